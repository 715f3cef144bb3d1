#include "layers/module.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <unordered_map>

#include "autograd/grad_mode.h"
#include "tensor/factory.h"

namespace edat::nn {

std::string LoadReport::summary() const {
  std::ostringstream out;
  out << "loaded " << loaded.size() << " tensors";
  if (!skipped.empty()) {
    out << "; skipped " << skipped.size() << " (";
    for (std::size_t i = 0; i < skipped.size(); ++i) out << (i ? ", " : "") << skipped[i];
    out << ")";
  }
  if (!missing.empty()) out << "; " << missing.size() << " missing";
  if (!unexpected.empty()) out << "; " << unexpected.size() << " unexpected";
  return out.str();
}

Tensor& Module::register_parameter(const std::string& name, Tensor tensor, bool requires_grad) {
  EDAT_CHECK(name.find('.') == std::string::npos, type_name_ << ": parameter name '" << name << "' contains a dot");
  if (tensor.defined()) tensor.set_requires_grad(requires_grad);
  parameters_.emplace_back(name, std::move(tensor));
  return parameters_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor tensor) {
  EDAT_CHECK(name.find('.') == std::string::npos, type_name_ << ": buffer name '" << name << "' contains a dot");
  buffers_.emplace_back(name, std::move(tensor));
  return buffers_.back().second;
}

namespace {
Tensor& find_named(NamedTensors& list, const std::string& name, const std::string& owner, const char* kind) {
  for (auto& [key, tensor] : list)
    if (key == name) return tensor;
  throw Error(owner + " has no " + kind + " named '" + name + "'");
}
}  // namespace

Tensor& Module::parameter(const std::string& name) { return find_named(parameters_, name, type_name_, "parameter"); }
Tensor& Module::buffer(const std::string& name) { return find_named(buffers_, name, type_name_, "buffer"); }

void Module::collect(const std::string& prefix, bool params, bool buffers, NamedTensors& out) const {
  // Per module: its parameters, then its buffers, then each child in turn (torchvision's state_dict order).
  if (params)
    for (const auto& [name, tensor] : parameters_)
      if (tensor.defined()) out.emplace_back(prefix + name, tensor);
  if (buffers)
    for (const auto& [name, tensor] : buffers_)
      if (tensor.defined()) out.emplace_back(prefix + name, tensor);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", params, buffers, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, false, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, true, out);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", true, true, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, tensor] : named_parameters()) out.push_back(tensor);
  return out;
}

std::vector<Tensor> Module::trainable_parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, tensor] : named_parameters())
    if (tensor.requires_grad()) out.push_back(tensor);
  return out;
}

std::int64_t Module::parameter_count() const {
  std::int64_t count = 0;
  for (auto& [name, tensor] : named_parameters()) count += tensor.numel();
  return count;
}

std::vector<std::pair<std::string, Module*>> Module::named_children() {
  std::vector<std::pair<std::string, Module*>> out;
  for (auto& [name, child] : children_) out.emplace_back(name, child.get());
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (auto& [name, child] : children_)
    for (auto& [sub, module] : child->named_modules()) out.emplace_back(sub.empty() ? name : name + "." + sub, module);
  return out;
}

Module* Module::child(const std::string& name) const {
  for (const auto& [key, module] : children_)
    if (key == name) return module.get();
  return nullptr;
}

void Module::train(bool on) {
  training_ = on && !eval_pinned_;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::pin_eval(bool pinned) {
  eval_pinned_ = pinned;
  if (pinned) training_ = false;
}

void Module::set_module(const std::string& name, std::shared_ptr<Module> module, const std::string& before) {
  EDAT_CHECK(name.find('.') == std::string::npos, type_name_ << ": module name '" << name << "' contains a dot");
  auto same = [](const std::string& key) {
    return [&key](const auto& entry) { return entry.first == key; };
  };
  auto existing = std::find_if(children_.begin(), children_.end(), same(name));
  if (!module) {
    if (existing != children_.end()) children_.erase(existing);
    return;
  }
  if (existing != children_.end()) {
    existing->second = std::move(module);
    return;
  }
  auto position = before.empty() ? children_.end() : std::find_if(children_.begin(), children_.end(), same(before));
  children_.insert(position, {name, std::move(module)});
}

void Module::set_requires_grad(bool requires_grad) {
  for (auto& [name, tensor] : named_parameters()) tensor.set_requires_grad(requires_grad);
}

namespace {
// Replaces a tensor's data in place (same TensorImpl), so every handle to it sees the moved data.
void replace_data(const Tensor& tensor, const Tensor& moved) {
  if (moved.is_same(tensor)) return;
  tensor.impl()->storage = moved.impl()->storage;
  tensor.impl()->offset_bytes = moved.impl()->offset_bytes;
  tensor.impl()->dtype = moved.dtype();
  tensor.impl()->grad = Tensor();
}
}  // namespace

void Module::to(Device device) {
  NoGradGuard no_grad;
  for (auto& [name, tensor] : state_dict()) replace_data(tensor, tensor.to(device));
  for (auto& [name, module] : named_modules()) module->state_changed();
}

void Module::to(DType dtype) {
  NoGradGuard no_grad;
  // Integer buffers (num_batches_tracked) keep their dtype.
  for (auto& [name, tensor] : state_dict())
    if (tensor.dtype() != DType::i64) replace_data(tensor, tensor.to(dtype));
  for (auto& [name, module] : named_modules()) module->state_changed();
}

void Module::zero_grad() {
  for (auto& [name, tensor] : named_parameters()) tensor.zero_grad();
}

namespace {

// What a trained network never holds: a NaN or infinite value, or a negative batch-norm running variance. Loaded,
// they make every prediction NaN (the square root of a negative variance) without any error; "" when fine.
std::string implausible_values(const std::string& key, const Tensor& tensor) {
  if (!is_floating(tensor.dtype())) return "";
  const Tensor host = tensor.cpu();
  std::int64_t non_finite = 0, negative = 0;
  auto count = [&](auto to_double) {
    for (std::int64_t i = 0; i < host.numel(); ++i) {
      const double v = to_double(i);
      non_finite += !std::isfinite(v);
      negative += v < 0;
    }
  };
  switch (host.dtype()) {
    case DType::f32:
      count([p = host.data<float>()](std::int64_t i) { return static_cast<double>(p[i]); });
      break;
    case DType::f64:
      count([p = host.data<double>()](std::int64_t i) { return p[i]; });
      break;
    case DType::bf16:
      count([p = host.data<bf16>()](std::int64_t i) { return static_cast<double>(p[i].to_float()); });
      break;
    case DType::i64:
      break;
  }
  std::ostringstream out;
  if (non_finite > 0) out << key << " (" << non_finite << " NaN or infinite)";
  if (negative > 0 && key.ends_with("running_var")) out << (non_finite ? ", " : "") << key << " (" << negative
                                                        << " negative variances)";
  return out.str();
}

}  // namespace

LoadReport Module::load_state_dict(const NamedTensors& state, const LoadOptions& options) {
  auto skipped = [&](const std::string& key) {
    return std::any_of(options.skip_prefixes.begin(), options.skip_prefixes.end(),
                       [&](const std::string& prefix) { return key.rfind(prefix, 0) == 0; });
  };
  std::unordered_map<std::string, const Tensor*> incoming;
  for (const auto& [key, tensor] : state) incoming[key] = &tensor;

  LoadReport report;
  std::vector<std::string> mismatched, implausible;
  std::vector<std::pair<Tensor, const Tensor*>> to_copy;
  const NamedTensors own = state_dict();
  std::unordered_map<std::string, bool> own_keys;
  for (const auto& [key, tensor] : own) {
    own_keys[key] = true;
    if (skipped(key)) {
      report.skipped.push_back(key);
      continue;
    }
    auto found = incoming.find(key);
    if (found == incoming.end()) {
      report.missing.push_back(key);
    } else if (found->second->shape() != tensor.shape()) {
      mismatched.push_back(key + " (file " + shape_str(found->second->shape()) + ", model " +
                           shape_str(tensor.shape()) + ")");
    } else if (std::string bad = implausible_values(key, *found->second); !bad.empty()) {
      implausible.push_back(bad);
    } else {
      to_copy.emplace_back(tensor, found->second);
      report.loaded.push_back(key);
    }
  }
  for (const auto& [key, tensor] : state) {
    if (own_keys.count(key)) continue;
    if (skipped(key)) {  // keys the model lacks (a head of another shape was already listed under the model's name)
      report.skipped.push_back(key);
    } else {
      report.unexpected.push_back(key);
    }
  }

  auto list = [](const std::vector<std::string>& keys) {
    std::string text;
    for (std::size_t i = 0; i < keys.size(); ++i) text += (i ? ", " : "") + keys[i];
    return text;
  };
  std::ostringstream problems;
  if (!mismatched.empty()) problems << "\n  shape mismatch: " << list(mismatched);
  if (!implausible.empty()) problems << "\n  values no trained network holds: " << list(implausible);
  if (options.strict && !report.missing.empty()) problems << "\n  missing keys: " << list(report.missing);
  if (options.strict && !report.unexpected.empty()) problems << "\n  unexpected keys: " << list(report.unexpected);
  EDAT_CHECK(problems.str().empty(), "load_state_dict into " << type_name_ << ":" << problems.str());

  NoGradGuard no_grad;
  for (auto& [target, source] : to_copy) target.copy_(source->to(target.dtype()).to(target.device()));
  for (auto& [name, module] : named_modules()) module->state_changed();
  return report;
}

std::string Module::repr(int indent) const {
  std::ostringstream out;
  out << type_name_ << "(" << extra_repr();
  if (!children_.empty()) {
    out << "\n";
    const std::string pad(static_cast<std::size_t>(indent + 2), ' ');
    for (const auto& [name, child] : children_) out << pad << "(" << name << "): " << child->repr(indent + 2) << "\n";
    out << std::string(static_cast<std::size_t>(indent), ' ');
  }
  out << ")";
  return out.str();
}

}  // namespace edat::nn
