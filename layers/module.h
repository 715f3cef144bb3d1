// Module: the base of every layer and model. It owns named parameters (trainable tensors), buffers (state such as
// batch-norm running statistics) and child modules, and gives them PyTorch's dotted names ("layer1.0.bn1.weight"),
// so that state dicts map one-to-one onto torchvision's.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace edat::nn {

// Name -> tensor in registration order (the order of torchvision's state_dict()).
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

struct LoadOptions {
  bool strict = true;  // missing or unexpected keys are errors (shape mismatches always are)
  // Keys starting with one of these prefixes are skipped on both sides and listed in the report: loading ImageNet
  // weights into a model with another head uses {"fc."}.
  std::vector<std::string> skip_prefixes;
};

struct LoadReport {
  std::vector<std::string> loaded, skipped, missing, unexpected;
  std::string summary() const;  // "loaded 216 tensors; skipped 2 (fc.weight, fc.bias)"
};

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }

  const std::string& type_name() const { return type_name_; }
  // One line describing this module's configuration for printing ("64, 128, kernel_size=3, stride=2").
  virtual std::string extra_repr() const { return ""; }

  // ---- the tree ----
  NamedTensors named_parameters() const;  // recursive, dotted names
  NamedTensors named_buffers() const;
  std::vector<Tensor> parameters() const;  // all of them, trainable or frozen
  std::vector<Tensor> trainable_parameters() const;  // requires_grad only
  std::vector<std::pair<std::string, Module*>> named_modules();  // this module ("") and all descendants
  std::vector<std::pair<std::string, Module*>> named_children();
  Module* child(const std::string& name) const;  // a direct child, or nullptr
  std::int64_t parameter_count() const;

  // ---- modes ----
  // Training mode (batch statistics, dropout) for this module and its descendants; a module whose evaluation mode
  // is pinned stays in evaluation mode (its children still follow `on`).
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Pins this module (not its children) in evaluation mode, whatever train() later says, or releases it. Transfer
  // learning pins the batch norms of frozen parts so that their running statistics never drift.
  void pin_eval(bool pinned = true);
  bool eval_pinned() const { return eval_pinned_; }
  // Freezes (false) or unfreezes (true) every parameter of this module and its descendants.
  void set_requires_grad(bool requires_grad);

  // ---- devices, dtypes ----
  // Moves every parameter and buffer, keeping each tensor's identity: handles held elsewhere (an optimizer) see the
  // new device. Gradients are dropped.
  void to(Device device);
  void to(DType dtype);
  void zero_grad();

  // ---- state dicts ----
  NamedTensors state_dict() const;  // parameters and buffers interleaved per module, as torchvision's
  // Copies tensors from `state` into this module's parameters and buffers (converting dtype and device as needed).
  // All problems are collected and reported in one edat::Error: missing keys, unexpected keys, shape mismatches.
  LoadReport load_state_dict(const NamedTensors& state, const LoadOptions& options = {});

  // Printed tree, as PyTorch's print(model).
  std::string repr(int indent = 0) const;

 protected:
  Tensor& register_parameter(const std::string& name, Tensor tensor, bool requires_grad = true);
  Tensor& register_buffer(const std::string& name, Tensor tensor);
  template <class M> std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    children_.emplace_back(name, module);
    return module;
  }
  // Replaces the child `name`; when there is none, inserts `module` before the child `before` (appends when `before`
  // is empty or absent). A null module removes the child. For models that swap a head or add a layer before it.
  void set_module(const std::string& name, std::shared_ptr<Module> module, const std::string& before = "");
  // Parameters and buffers of this module only, for subclasses (undefined tensors are skipped everywhere).
  Tensor& parameter(const std::string& name);
  Tensor& buffer(const std::string& name);

  // Called after load_state_dict and to() changed this module's tensors (for modules that cache derived state).
  virtual void state_changed() {}

  bool training_ = true;

 private:
  bool eval_pinned_ = false;
  void collect(const std::string& prefix, bool params, bool buffers, NamedTensors& out) const;
  std::string type_name_;
  NamedTensors parameters_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace edat::nn
