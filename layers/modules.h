// The layers as Modules, with PyTorch's parameter names, shapes and default initialisation. Each forward calls the
// differentiable op of layers/functional.h; the maths and its backward live there.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>

#include "layers/functional.h"
#include "layers/module.h"
#include "tensor/random.h"

namespace edat::nn {

struct Conv2dSpec {
  std::int64_t in = 1, out = 1;  // channels
  std::int64_t kernel = 3;       // square kernel
  std::int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = true;
};

// weight (out, in / groups, k, k) and bias (out) ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in / groups * k * k:
// PyTorch's default (kaiming_uniform_ with a = sqrt(5)).
class Conv2d : public Module {
 public:
  explicit Conv2d(const Conv2dSpec& spec, Generator& generator = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const Conv2dSpec& spec() const { return spec_; }
  Tensor& weight() { return parameter("weight"); }
  Tensor& bias() { return parameter("bias"); }  // only with spec().bias
  // weight[k] *= scale[k], bias[k] = bias[k] scale[k] + shift[k] (bias 0 when absent: it is added, frozen): an affine
  // map of each output channel taken into the convolution (fold_batch_norm in layers/fold.h).
  void absorb_affine(const Tensor& scale, const Tensor& shift);

 private:
  Conv2dSpec spec_;
};

// Parameters weight = 1, bias = 0; buffers running_mean = 0, running_var = 1, num_batches_tracked = 0 (i64).
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(std::int64_t features, double eps = 1e-5, double momentum = 0.1);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor& weight() { return parameter("weight"); }
  Tensor& bias() { return parameter("bias"); }
  Tensor& running_mean() { return buffer("running_mean"); }
  Tensor& running_var() { return buffer("running_var"); }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }
  // Its affine map now lives in the convolution before it (layers/fold.h): forward is the identity, in evaluation
  // mode only (training would need the batch statistics of the unfolded input).
  void mark_folded() { folded_ = true; }
  bool folded() const { return folded_; }

 protected:
  void state_changed() override { batches_known_ = false; }

 private:
  std::int64_t features_;
  double eps_, momentum_;
  std::int64_t batches_ = 0;  // host copy of num_batches_tracked, so counting needs no device round trip
  bool batches_known_ = true;
  bool folded_ = false;
};

// y = x W^T + b; W (out, in) and b (out) ~ U(-1/sqrt(in), 1/sqrt(in)) (PyTorch's default).
class Linear : public Module {
 public:
  Linear(std::int64_t in, std::int64_t out, bool bias = true, Generator& generator = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor& weight() { return parameter("weight"); }
  Tensor& bias() { return parameter("bias"); }

 private:
  std::int64_t in_, out_;
  bool has_bias_;
};

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override;
};

// min(max(x, 0), 6) (torch.nn.ReLU6): MobileNetV2's activation, bounded so that low-precision inference keeps range.
class ReLU6 : public Module {
 public:
  ReLU6() : Module("ReLU6") {}
  Tensor forward(const Tensor& x) override;
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(std::int64_t kernel, std::int64_t stride = -1, std::int64_t padding = 0,
                     std::int64_t dilation = 1, bool ceil_mode = false);  // stride -1 = kernel
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const Pool2dOptions& options() const { return options_; }

 private:
  Pool2dOptions options_;
};

class AdaptiveAvgPool2d : public Module {
 public:
  AdaptiveAvgPool2d(std::int64_t out_h, std::int64_t out_w)
      : Module("AdaptiveAvgPool2d"), out_h_(out_h), out_w_(out_w) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  std::int64_t out_h() const { return out_h_; }
  std::int64_t out_w() const { return out_w_; }

 private:
  std::int64_t out_h_, out_w_;
};

// Its masks come from a generator of its own, seeded from the one given at construction, so a run is reproducible.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator& generator = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Generator& generator() { return generator_; }
  double p() const { return p_; }

 private:
  double p_;
  Generator generator_;
};

// Flattens dims start..end (PyTorch's nn.Flatten: start 1, so the batch dim stays).
class Flatten : public Module {
 public:
  explicit Flatten(std::int64_t start = 1, std::int64_t end = -1) : Module("Flatten"), start_(start), end_(end) {}
  Tensor forward(const Tensor& x) override;

 private:
  std::int64_t start_, end_;
};

// Children named "0", "1", ... applied in order.
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> module);
  // Replaces child `index` (its name, and so its tensors' names, stay the same): for models that swap a head.
  void set(std::size_t index, std::shared_ptr<Module> module);
  Tensor forward(const Tensor& x) override;
  std::size_t size() const { return size_; }

 private:
  std::size_t size_ = 0;
};

}  // namespace edat::nn
