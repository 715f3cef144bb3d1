#include "layers/modules.h"

#include <cmath>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "layers/init_mode.h"
#include "tensor/backend.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/factory.h"

namespace edat::nn {

namespace {
// U(-bound, bound) with bound = 1 / sqrt(fan_in): PyTorch's default for Conv2d and Linear weights and biases.
Tensor default_uniform(const Shape& shape, std::int64_t fan_in, Generator& generator) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return init_uniform(shape, -bound, bound, generator);
}
}  // namespace

// ---- Conv2d ----

Conv2d::Conv2d(const Conv2dSpec& spec, Generator& generator) : Module("Conv2d"), spec_(spec) {
  EDAT_CHECK(spec.in > 0 && spec.out > 0 && spec.kernel > 0 && spec.stride > 0 && spec.padding >= 0 &&
                 spec.dilation > 0 && spec.groups > 0,
             "Conv2d: sizes must be positive (in " << spec.in << ", out " << spec.out << ", kernel " << spec.kernel
                                                   << ", stride " << spec.stride << ", padding " << spec.padding << ")");
  EDAT_CHECK(spec.in % spec.groups == 0 && spec.out % spec.groups == 0,
             "Conv2d: groups " << spec.groups << " must divide in " << spec.in << " and out " << spec.out);
  const std::int64_t fan_in = spec.in / spec.groups * spec.kernel * spec.kernel;
  register_parameter("weight", default_uniform({spec.out, spec.in / spec.groups, spec.kernel, spec.kernel}, fan_in,
                                               generator));
  if (spec.bias) register_parameter("bias", default_uniform({spec.out}, fan_in, generator));
}

Tensor Conv2d::forward(const Tensor& x) {
  Conv2dOptions options{.stride_h = spec_.stride, .stride_w = spec_.stride, .pad_h = spec_.padding,
                        .pad_w = spec_.padding, .dilation_h = spec_.dilation, .dilation_w = spec_.dilation,
                        .groups = spec_.groups};
  return conv2d(x, parameter("weight"), spec_.bias ? parameter("bias") : Tensor(), options);
}

void Conv2d::absorb_affine(const Tensor& scale, const Tensor& shift) {
  NoGradGuard no_grad;
  Tensor& w = parameter("weight");
  EDAT_CHECK(scale.numel() == spec_.out && shift.numel() == spec_.out,
             "Conv2d::absorb_affine: " << spec_.out << " output channels, but scale " << scale.desc() << " and shift "
                                       << shift.desc());
  // In f64, rounded once to the parameters' dtype. On the CPU in place, element by element: whole-tensor f64 copies
  // of ResNet-34's largest weights took 47 MB at once, which stayed in the process's peak memory after folding.
  const Tensor scale64 = scale.to(DType::f64), shift64 = shift.to(DType::f64);
  if (w.device().is_cpu()) {
    const std::vector<double> s = scale64.to_vector<double>();
    const std::int64_t per_output = w.numel() / spec_.out;
    edat::cpu_impl::dispatch_floating(w.dtype(), "Conv2d::absorb_affine", [&](auto zero) {
      using T = decltype(zero);
      T* data = w.data<T>();
      for (std::int64_t i = 0; i < w.numel(); ++i)
        data[i] = static_cast<T>(static_cast<double>(data[i]) * s[static_cast<std::size_t>(i / per_output)]);
    });
  } else {
    w.copy_((w.to(DType::f64) * scale64.untracked_view({spec_.out, 1, 1, 1})).to(w.dtype()));
  }
  if (spec_.bias) {
    Tensor& b = parameter("bias");
    b.copy_((b.to(DType::f64) * scale64 + shift64).to(b.dtype()));
  } else {
    register_parameter("bias", shift.to(w.dtype()).clone(), false);
    spec_.bias = true;
  }
}

std::string Conv2d::extra_repr() const {
  std::string text = std::to_string(spec_.in) + ", " + std::to_string(spec_.out) +
                     ", kernel_size=" + std::to_string(spec_.kernel) + ", stride=" + std::to_string(spec_.stride);
  if (spec_.padding) text += ", padding=" + std::to_string(spec_.padding);
  if (spec_.dilation != 1) text += ", dilation=" + std::to_string(spec_.dilation);
  if (spec_.groups != 1) text += ", groups=" + std::to_string(spec_.groups);
  if (!spec_.bias) text += ", bias=False";
  return text;
}

// ---- BatchNorm2d ----

BatchNorm2d::BatchNorm2d(std::int64_t features, double eps, double momentum)
    : Module("BatchNorm2d"), features_(features), eps_(eps), momentum_(momentum) {
  EDAT_CHECK(features > 0, "BatchNorm2d: features must be positive, got " << features);
  register_parameter("weight", ones({features}));
  register_parameter("bias", zeros({features}));
  register_buffer("running_mean", zeros({features}));
  register_buffer("running_var", ones({features}));
  register_buffer("num_batches_tracked", zeros({}, {.dtype = DType::i64}));
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  if (folded_) {
    EDAT_CHECK(!training_, "BatchNorm2d: this batch norm was folded into the convolution before it for inference "
                           "(layers/fold.h); a folded model cannot train: load the weights again to train");
    return x;
  }
  Tensor y = batch_norm(x, parameter("weight"), parameter("bias"), buffer("running_mean"), buffer("running_var"),
                        training_, momentum_, eps_);
  if (training_) {
    Tensor& counter = buffer("num_batches_tracked");
    if (!batches_known_) batches_ = static_cast<std::int64_t>(counter.item()), batches_known_ = true;
    backend(counter.device()).fill(counter, static_cast<double>(++batches_));  // queued, no round trip
  }
  return y;
}

std::string BatchNorm2d::extra_repr() const {
  return std::to_string(features_) + ", eps=" + std::to_string(eps_) + ", momentum=" + std::to_string(momentum_);
}

// ---- Linear ----

Linear::Linear(std::int64_t in, std::int64_t out, bool bias, Generator& generator)
    : Module("Linear"), in_(in), out_(out), has_bias_(bias) {
  EDAT_CHECK(in > 0 && out > 0, "Linear: sizes must be positive, got in " << in << ", out " << out);
  register_parameter("weight", default_uniform({out, in}, in, generator));
  if (bias) register_parameter("bias", default_uniform({out}, in, generator));
}

Tensor Linear::forward(const Tensor& x) {
  return linear(x, parameter("weight"), has_bias_ ? parameter("bias") : Tensor());
}

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_) + ", out_features=" + std::to_string(out_);
}

// ---- stateless layers ----

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

Tensor ReLU6::forward(const Tensor& x) { return relu6(x); }

MaxPool2d::MaxPool2d(std::int64_t kernel, std::int64_t stride, std::int64_t padding, std::int64_t dilation,
                     bool ceil_mode)
    : Module("MaxPool2d") {
  if (stride < 0) stride = kernel;
  options_ = {.kernel_h = kernel, .kernel_w = kernel, .stride_h = stride, .stride_w = stride, .pad_h = padding,
              .pad_w = padding, .dilation_h = dilation, .dilation_w = dilation, .ceil_mode = ceil_mode};
}

Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, options_); }

std::string MaxPool2d::extra_repr() const {
  return "kernel_size=" + std::to_string(options_.kernel_h) + ", stride=" + std::to_string(options_.stride_h) +
         ", padding=" + std::to_string(options_.pad_h);
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) { return adaptive_avg_pool2d(x, out_h_, out_w_); }

std::string AdaptiveAvgPool2d::extra_repr() const {
  return "output_size=(" + std::to_string(out_h_) + ", " + std::to_string(out_w_) + ")";
}

Dropout::Dropout(double p, Generator& generator) : Module("Dropout"), p_(p), generator_(generator.next_bits()) {
  EDAT_CHECK(p >= 0 && p < 1, "Dropout: p must be in [0, 1), got " << p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p_, training_, generator_); }

std::string Dropout::extra_repr() const { return "p=" + std::to_string(p_); }

Tensor Flatten::forward(const Tensor& x) { return flatten(x, start_, end_); }

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) : Sequential() {
  for (const auto& module : modules) push_back(module);
}

void Sequential::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(size_++), std::move(module));
}

void Sequential::set(std::size_t index, std::shared_ptr<Module> module) {
  EDAT_CHECK(index < size_, "Sequential::set: index " << index << " out of range for " << size_ << " modules");
  EDAT_CHECK(module != nullptr, "Sequential::set: the module is null");
  set_module(std::to_string(index), std::move(module));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (auto& [name, module] : named_children()) y = module->forward(y);
  return y;
}

}  // namespace edat::nn
