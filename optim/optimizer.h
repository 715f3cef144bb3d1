// Optimizers with PyTorch's semantics (torch.optim, 1.13): SGD (momentum v = mu v + g, Nesterov, dampening, L2 weight
// decay), Adam (bias correction, eps after the square root, L2 weight decay added to the gradient) and AdamW
// (decoupled weight decay). One parameter group; the learning rate is set by a schedule (optim/schedules.h) or by hand.
//
//   auto optimizer = optim::make_optimizer("adamw", model.named_parameters(), {.lr = 1e-3, .weight_decay = 0.05});
//   optimizer->zero_grad(); loss.backward(); optimizer->step();
//
// A parameter is updated only when it requires grad and has a gradient; frozen ones (requires_grad = false) are
// neither updated nor given state, whatever their .grad holds. State (momentum buffers, Adam moments, per-parameter
// step counts) is created at a parameter's first update, on its device. Each step is one call of the kernels of
// optim/kernels.h over all updated parameters: one fused launch on CUDA.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"
#include "optim/kernels.h"

namespace edat::optim {

// Hyper-parameters of every optimizer; each uses its own (PyTorch's defaults, except lr).
struct OptimizerOptions {
  double lr = 1e-3;
  double momentum = 0;      // SGD
  double dampening = 0;     // SGD
  bool nesterov = false;    // SGD (needs momentum > 0 and dampening 0)
  double weight_decay = 0;  // SGD, Adam: L2 (g += wd p); AdamW: decoupled (p *= 1 - lr wd)
  double beta1 = 0.9;       // Adam, AdamW
  double beta2 = 0.999;
  double eps = 1e-8;
};

// An optimizer's state in memory: the state tensors (named "<slot>/<parameter>", e.g. "exp_avg/fc.weight", on the
// CPU) and a JSON document with everything else: the type, the hyper-parameters, the step count, and each
// parameter's name, shape and step count, so that a state from another model is recognised.
struct OptimizerState {
  nn::NamedTensors tensors;
  std::string json;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual const char* type() const = 0;  // "sgd", "adam", "adamw"

  // Updates every parameter that requires grad and has a gradient.
  void step();
  // Drops every parameter's gradient (PyTorch's set_to_none): the next backward() stores fresh ones.
  void zero_grad();

  double lr() const { return options_.lr; }
  void set_lr(double lr);  // edat::Error when negative, NaN or infinite
  const OptimizerOptions& options() const { return options_; }
  std::int64_t step_count() const { return step_count_; }  // calls of step()
  const nn::NamedTensors& parameters() const { return params_; }
  // The state tensors of parameter `name` by slot name (empty before its first update, and for frozen parameters).
  nn::NamedTensors parameter_state(const std::string& name) const;
  std::int64_t parameter_steps(const std::string& name) const;  // updates of that parameter so far

  // ---- saving and resuming (see also optim/state_file.h) ----
  OptimizerState state() const;  // copies: later steps do not change it
  // Restores a state made by state() of an optimizer of the same type over the same parameter list (names and
  // shapes, in order; an edat::Error names the first difference). Hyper-parameters are restored too.
  void load_state(const OptimizerState& state);

 protected:
  Optimizer(nn::NamedTensors params, const OptimizerOptions& options);
  // Names of the state tensors each updated parameter gets ("momentum_buffer"; "exp_avg", "exp_avg_sq").
  virtual std::vector<std::string> slot_names() const = 0;
  // Checks the hyper-parameters (edat::Error naming the bad one).
  virtual void validate(const OptimizerOptions& options) const = 0;
  // Runs the kernels over `lists`.
  virtual void update(OptimKernels& kernels, const TensorLists& lists) = 0;
  // Call at the end of a subclass constructor (validate() is virtual).
  void check_options() const { validate(options_); }

  OptimizerOptions options_;

 private:
  std::size_t index_of(const std::string& name) const;
  nn::NamedTensors params_;
  std::vector<std::vector<Tensor>> state_;  // per parameter, per slot (empty until its first update)
  std::vector<std::int64_t> steps_;         // per parameter
  std::int64_t step_count_ = 0;
};

class SGD final : public Optimizer {
 public:
  SGD(nn::NamedTensors params, const OptimizerOptions& options);
  const char* type() const override { return "sgd"; }

 protected:
  std::vector<std::string> slot_names() const override;
  void validate(const OptimizerOptions& options) const override;
  void update(OptimKernels& kernels, const TensorLists& lists) override;
};

class Adam : public Optimizer {
 public:
  Adam(nn::NamedTensors params, const OptimizerOptions& options) : Adam(std::move(params), options, false) {}
  const char* type() const override { return decoupled_ ? "adamw" : "adam"; }

 protected:
  Adam(nn::NamedTensors params, const OptimizerOptions& options, bool decoupled);
  std::vector<std::string> slot_names() const override { return {"exp_avg", "exp_avg_sq"}; }
  void validate(const OptimizerOptions& options) const override;
  void update(OptimKernels& kernels, const TensorLists& lists) override;

 private:
  bool decoupled_;
};

// Adam with decoupled weight decay (Loshchilov & Hutter): p *= 1 - lr wd, then the Adam update without L2.
// PyTorch's AdamW defaults to weight_decay 0.01; here it is whatever the options say.
class AdamW final : public Adam {
 public:
  AdamW(nn::NamedTensors params, const OptimizerOptions& options) : Adam(std::move(params), options, true) {}
};

// "sgd", "adam" or "adamw"; anything else is an edat::Error listing them.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, nn::NamedTensors params,
                                          const OptimizerOptions& options);

}  // namespace edat::optim
