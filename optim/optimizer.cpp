// The optimizer base (parameter bookkeeping, lazily created state, one kernel call per step, state save/restore),
// SGD, Adam/AdamW and the factory. The maths of the updates is in optim/update_rules.h.
#include "optim/optimizer.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "autograd/grad_mode.h"
#include "tensor/factory.h"

namespace edat::optim {

namespace {

constexpr const char* kStateFormat = "edat-optimizer";
constexpr int kStateVersion = 1;

void check_lr(const char* who, double lr) {
  EDAT_CHECK(std::isfinite(lr) && lr >= 0, who << ": the learning rate must be a finite number >= 0, got " << lr);
}

void check_in(const char* who, const char* what, double value, double low, bool low_open, double high, bool high_open) {
  const bool ok =
      std::isfinite(value) && (low_open ? value > low : value >= low) && (high_open ? value < high : value <= high);
  EDAT_CHECK(ok, who << ": " << what << " must be in " << (low_open ? "(" : "[") << low << ", " << high
                     << (high_open ? ")" : "]") << ", got " << value);
}

nlohmann::json options_json(const OptimizerOptions& o) {
  return {{"lr", o.lr},
          {"momentum", o.momentum},
          {"dampening", o.dampening},
          {"nesterov", o.nesterov},
          {"weight_decay", o.weight_decay},
          {"beta1", o.beta1},
          {"beta2", o.beta2},
          {"eps", o.eps}};
}

OptimizerOptions options_from_json(const nlohmann::json& j) {
  OptimizerOptions o;
  o.lr = j.at("lr").get<double>();
  o.momentum = j.at("momentum").get<double>();
  o.dampening = j.at("dampening").get<double>();
  o.nesterov = j.at("nesterov").get<bool>();
  o.weight_decay = j.at("weight_decay").get<double>();
  o.beta1 = j.at("beta1").get<double>();
  o.beta2 = j.at("beta2").get<double>();
  o.eps = j.at("eps").get<double>();
  return o;
}

}  // namespace

// ---- Optimizer ----

Optimizer::Optimizer(nn::NamedTensors params, const OptimizerOptions& options)
    : options_(options), params_(std::move(params)) {
  EDAT_CHECK(!params_.empty(), "optimizer: got an empty parameter list");
  std::set<std::string> names;
  std::set<const TensorImpl*> tensors;
  for (const auto& [name, p] : params_) {
    EDAT_CHECK(p.defined(), "optimizer: parameter '" << name << "' is an undefined tensor");
    EDAT_CHECK(is_floating(p.dtype()), "optimizer: parameter '" << name << "' is not floating-point: " << p.desc());
    EDAT_CHECK(p.is_leaf(), "optimizer: parameter '" << name << "' is not a leaf tensor (it was computed by an op)");
    EDAT_CHECK(names.insert(name).second, "optimizer: two parameters are named '" << name << "'");
    EDAT_CHECK(tensors.insert(p.impl()).second, "optimizer: parameter '" << name << "' appears twice in the list");
  }
  state_.resize(params_.size());
  steps_.assign(params_.size(), 0);
}

void Optimizer::set_lr(double lr) {
  check_lr(type(), lr);
  options_.lr = lr;
}

void Optimizer::zero_grad() {
  for (auto& [name, p] : params_) p.zero_grad();
}

void Optimizer::step() {
  ++step_count_;
  std::vector<std::size_t> active;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].second;
    if (p.requires_grad() && p.grad().defined()) active.push_back(i);
  }
  if (active.empty()) return;

  // One kernel call needs one dtype and one device; gradients must match their parameters.
  const Tensor& first = params_[active[0]].second;
  for (std::size_t i : active) {
    const auto& [name, p] = params_[i];
    const Tensor g = p.grad();
    EDAT_CHECK(p.dtype() == first.dtype() && p.device() == first.device(),
               type() << ".step: parameters must share one dtype and device: '" << params_[active[0]].first << "' is "
                      << first.desc() << ", '" << name << "' is " << p.desc());
    EDAT_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype() && g.device() == p.device(),
               type() << ".step: the gradient of '" << name << "' is " << g.desc() << " for a parameter " << p.desc());
  }

  const std::vector<std::string> slots = slot_names();
  TensorLists lists;
  for (std::size_t i : active) {
    const Tensor& p = params_[i].second;
    std::vector<Tensor>& state = state_[i];
    if (state.size() != slots.size()) {
      state.clear();
      for (std::size_t s = 0; s < slots.size(); ++s) state.push_back(zeros_like(p));
    }
    for (Tensor& t : state) {  // a model moved after the state was made: the state follows its parameter
      if (t.device() != p.device() || t.dtype() != p.dtype()) t = t.to(p.dtype()).to(p.device());
    }
    ++steps_[i];
    lists.params.push_back(p);
    lists.grads.push_back(p.grad());
    if (slots.size() > 0) lists.m.push_back(state[0]);
    if (slots.size() > 1) lists.v.push_back(state[1]);
    lists.steps.push_back(steps_[i]);
  }
  NoGradGuard no_grad;
  update(optim_kernels(first.device()), lists);
}

std::size_t Optimizer::index_of(const std::string& name) const {
  for (std::size_t i = 0; i < params_.size(); ++i)
    if (params_[i].first == name) return i;
  throw Error(std::string(type()) + ": no parameter named '" + name + "'");
}

nn::NamedTensors Optimizer::parameter_state(const std::string& name) const {
  const std::size_t i = index_of(name);
  nn::NamedTensors out;
  const std::vector<std::string> slots = slot_names();
  for (std::size_t s = 0; s < state_[i].size() && s < slots.size(); ++s) out.emplace_back(slots[s], state_[i][s]);
  return out;
}

std::int64_t Optimizer::parameter_steps(const std::string& name) const { return steps_[index_of(name)]; }

OptimizerState Optimizer::state() const {
  OptimizerState out;
  nlohmann::json params = nlohmann::json::array();
  const std::vector<std::string> slots = slot_names();
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const auto& [name, p] = params_[i];
    params.push_back({{"name", name}, {"shape", p.shape()}, {"step", steps_[i]}});
    for (std::size_t s = 0; s < state_[i].size(); ++s) {
      const Tensor& t = state_[i][s];
      out.tensors.emplace_back(slots[s] + "/" + name, t.device().is_cpu() ? t.clone() : t.cpu());
    }
  }
  const nlohmann::json doc = {
      {"format", kStateFormat},    {"version", kStateVersion}, {"type", type()}, {"options", options_json(options_)},
      {"step_count", step_count_}, {"parameters", params}};
  out.json = doc.dump();
  return out;
}

void Optimizer::load_state(const OptimizerState& state) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(state.json);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string(type()) + ".load_state: the state is not valid JSON: " + e.what());
  }
  OptimizerOptions options;
  std::int64_t step_count = 0;
  std::vector<std::int64_t> steps(params_.size(), 0);
  try {
    EDAT_CHECK(doc.value("format", "") == kStateFormat,
               type() << ".load_state: not an edat optimizer state (format '" << doc.value("format", "") << "')");
    EDAT_CHECK(doc.at("version").get<int>() == kStateVersion,
               type() << ".load_state: unsupported state version " << doc.at("version"));
    const std::string saved_type = doc.at("type").get<std::string>();
    EDAT_CHECK(saved_type == type(), type() << ".load_state: the state is of a '" << saved_type
                                            << "' optimizer, this one is '" << type() << "'");
    const nlohmann::json& saved = doc.at("parameters");
    // The parameter lists must agree name by name and shape by shape: report the first difference.
    const std::size_t common = std::min<std::size_t>(saved.size(), params_.size());
    for (std::size_t i = 0; i < common; ++i) {
      const std::string saved_name = saved[i].at("name").get<std::string>();
      const Shape saved_shape = saved[i].at("shape").get<Shape>();
      const auto& [name, p] = params_[i];
      EDAT_CHECK(saved_name == name && saved_shape == p.shape(),
                 type() << ".load_state: the state belongs to another model: parameter " << i << " is '" << saved_name
                        << "' " << shape_str(saved_shape) << " in the state but '" << name << "' "
                        << shape_str(p.shape()) << " here");
      steps[i] = saved[i].at("step").get<std::int64_t>();
      EDAT_CHECK(steps[i] >= 0, type() << ".load_state: negative step count for '" << name << "'");
    }
    EDAT_CHECK(
        saved.size() == params_.size(),
        type() << ".load_state: the state belongs to another model: it has " << saved.size()
               << " parameters, this optimizer " << params_.size() << " (first unmatched: '"
               << (saved.size() > params_.size() ? saved[common].at("name").get<std::string>() : params_[common].first)
               << "')");
    options = options_from_json(doc.at("options"));
    step_count = doc.at("step_count").get<std::int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string(type()) + ".load_state: malformed state: " + e.what());
  }
  check_lr(type(), options.lr);
  validate(options);

  // The tensors: every slot of every parameter that has been updated, and nothing else.
  const OptimizerOptions previous = options_;
  options_ = options;  // slot_names() may depend on the options (SGD's momentum)
  const std::vector<std::string> slots = slot_names();
  options_ = previous;
  std::vector<std::vector<Tensor>> loaded(params_.size());
  std::set<std::string> used;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (steps[i] == 0) continue;
    const auto& [name, p] = params_[i];
    for (const std::string& slot : slots) {
      const std::string key = slot + "/" + name;
      const Tensor* found = nullptr;
      for (const auto& [k, t] : state.tensors)
        if (k == key) found = &t;
      EDAT_CHECK(found != nullptr, type() << ".load_state: the state lacks tensor '" << key << "'");
      EDAT_CHECK(found->shape() == p.shape(), type() << ".load_state: tensor '" << key << "' is " << found->desc()
                                                     << " for a parameter " << p.desc());
      loaded[i].push_back(found->to(p.dtype()).to(p.device()).clone());
      used.insert(key);
    }
  }
  for (const auto& [key, t] : state.tensors)
    EDAT_CHECK(used.count(key), type() << ".load_state: unexpected tensor '" << key << "' in the state");

  options_ = options;
  state_ = std::move(loaded);
  steps_ = std::move(steps);
  step_count_ = step_count;
}

// ---- SGD ----

SGD::SGD(nn::NamedTensors params, const OptimizerOptions& options) : Optimizer(std::move(params), options) {
  check_options();
}

std::vector<std::string> SGD::slot_names() const {
  if (options_.momentum == 0) return {};
  return {"momentum_buffer"};
}

void SGD::validate(const OptimizerOptions& o) const {
  check_lr("sgd", o.lr);
  EDAT_CHECK(std::isfinite(o.momentum) && o.momentum >= 0, "sgd: momentum must be >= 0, got " << o.momentum);
  check_in("sgd", "dampening", o.dampening, 0, false, 1, false);
  EDAT_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0,
             "sgd: weight_decay must be >= 0, got " << o.weight_decay);
  EDAT_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
             "sgd: nesterov needs momentum > 0 and dampening 0 (momentum " << o.momentum << ", dampening "
                                                                           << o.dampening << ")");
}

void SGD::update(OptimKernels& kernels, const TensorLists& lists) {
  kernels.sgd_step(
      lists, {options_.lr, options_.momentum, options_.dampening, options_.weight_decay, options_.nesterov});
}

// ---- Adam, AdamW ----

Adam::Adam(nn::NamedTensors params, const OptimizerOptions& options, bool decoupled)
    : Optimizer(std::move(params), options), decoupled_(decoupled) {
  check_options();
}

void Adam::validate(const OptimizerOptions& o) const {
  const char* who = type();
  check_lr(who, o.lr);
  check_in(who, "beta1", o.beta1, 0, false, 1, true);
  check_in(who, "beta2", o.beta2, 0, false, 1, true);
  EDAT_CHECK(std::isfinite(o.eps) && o.eps >= 0, who << ": eps must be >= 0, got " << o.eps);
  EDAT_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0,
             who << ": weight_decay must be >= 0, got " << o.weight_decay);
}

void Adam::update(OptimKernels& kernels, const TensorLists& lists) {
  kernels.adam_step(
      lists, {options_.lr, options_.beta1, options_.beta2, options_.eps, options_.weight_decay, decoupled_});
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, nn::NamedTensors params,
                                          const OptimizerOptions& options) {
  if (name == "sgd") return std::make_unique<SGD>(std::move(params), options);
  if (name == "adam") return std::make_unique<Adam>(std::move(params), options);
  if (name == "adamw") return std::make_unique<AdamW>(std::move(params), options);
  throw Error("unknown optimizer '" + name + "': expected sgd, adam or adamw");
}

}  // namespace edat::optim
