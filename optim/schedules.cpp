// The schedules' chainable forms, transcribed from torch/optim/lr_scheduler.py (1.13) with the same operations in the
// same order (Python floats are doubles and math.cos is the C library's cos, so the results are the same bits).
#include "optim/schedules.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numbers>

namespace edat::optim {

namespace {

constexpr const char* kStateFormat = "edat-lr-scheduler";

nlohmann::json options_json(const ScheduleOptions& o) {
  return {{"step_size", o.step_size},
          {"milestones", o.milestones},
          {"gamma", o.gamma},
          {"warmup_epochs", o.warmup_epochs},
          {"warmup_start_factor", o.warmup_start_factor},
          {"total_epochs", o.total_epochs},
          {"eta_min", o.eta_min}};
}

ScheduleOptions options_from_json(const nlohmann::json& j) {
  ScheduleOptions o;
  o.step_size = j.at("step_size").get<std::int64_t>();
  o.milestones = j.at("milestones").get<std::vector<std::int64_t>>();
  o.gamma = j.at("gamma").get<double>();
  o.warmup_epochs = j.at("warmup_epochs").get<std::int64_t>();
  o.warmup_start_factor = j.at("warmup_start_factor").get<double>();
  o.total_epochs = j.at("total_epochs").get<std::int64_t>();
  o.eta_min = j.at("eta_min").get<double>();
  return o;
}

void check_gamma(const char* who, double gamma) {
  EDAT_CHECK(std::isfinite(gamma) && gamma > 0, who << ": gamma must be a finite number > 0, got " << gamma);
}

// Python's a % m for m > 0 (never negative).
std::int64_t python_mod(std::int64_t a, std::int64_t m) { return ((a % m) + m) % m; }

}  // namespace

// ---- LRScheduler ----

LRScheduler::LRScheduler(Optimizer& optimizer, const ScheduleOptions& options)
    : options_(options), optimizer_(optimizer), base_lr_(optimizer.lr()), lr_(optimizer.lr()) {}

void LRScheduler::start() {
  validate(options_);
  epoch_ = 0;
  lr_ = initial_lr(base_lr_);
  optimizer_.set_lr(lr_);
}

double LRScheduler::lr_at(std::int64_t epoch) const {
  EDAT_CHECK(epoch >= 0, type() << " schedule: epoch must be >= 0, got " << epoch);
  double lr = initial_lr(base_lr_);
  for (std::int64_t e = 1; e <= epoch; ++e) lr = next_lr(lr, e);
  return lr;
}

void LRScheduler::step() {
  ++epoch_;
  lr_ = next_lr(lr_, epoch_);
  optimizer_.set_lr(lr_);
}

std::string LRScheduler::state_json() const {
  const nlohmann::json doc = {{"format", kStateFormat}, {"type", type()},  {"options", options_json(options_)},
                              {"base_lr", base_lr_},    {"epoch", epoch_}, {"lr", lr_}};
  return doc.dump();
}

void LRScheduler::load_state_json(const std::string& json) {
  ScheduleOptions options;
  double base_lr = 0;
  std::int64_t epoch = 0;
  try {
    const nlohmann::json doc = nlohmann::json::parse(json);
    EDAT_CHECK(doc.value("format", "") == kStateFormat,
               type() << " schedule: not an edat scheduler state (format '" << doc.value("format", "") << "')");
    const std::string saved_type = doc.at("type").get<std::string>();
    EDAT_CHECK(saved_type == type(), type() << " schedule: the state is of a '" << saved_type
                                            << "' schedule, this one is '" << type() << "'");
    options = options_from_json(doc.at("options"));
    base_lr = doc.at("base_lr").get<double>();
    epoch = doc.at("epoch").get<std::int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string(type()) + " schedule: malformed state: " + e.what());
  }
  validate(options);
  EDAT_CHECK(std::isfinite(base_lr) && base_lr >= 0, type() << " schedule: bad base lr " << base_lr << " in the state");
  EDAT_CHECK(epoch >= 0, type() << " schedule: bad epoch " << epoch << " in the state");
  options_ = options;
  base_lr_ = base_lr;
  epoch_ = epoch;
  lr_ = lr_at(epoch);
  optimizer_.set_lr(lr_);
}

// ---- StepLR: lr * gamma when epoch is a positive multiple of step_size ----

StepLR::StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma)
    : LRScheduler(optimizer, {.step_size = step_size, .gamma = gamma}) {
  start();
}

void StepLR::validate(const ScheduleOptions& o) const {
  EDAT_CHECK(o.step_size > 0, "step schedule: step_size must be > 0, got " << o.step_size);
  check_gamma("step schedule", o.gamma);
}

double StepLR::next_lr(double lr, std::int64_t epoch) const {
  if (epoch == 0 || epoch % options_.step_size != 0) return lr;
  return lr * options_.gamma;
}

// ---- MultiStepLR: lr * gamma^(times epoch is listed) ----

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<std::int64_t> milestones, double gamma)
    : LRScheduler(optimizer, {.milestones = std::move(milestones), .gamma = gamma}) {
  start();
}

void MultiStepLR::validate(const ScheduleOptions& o) const {
  EDAT_CHECK(!o.milestones.empty(), "multistep schedule: needs at least one milestone");
  for (std::int64_t m : o.milestones) EDAT_CHECK(m > 0, "multistep schedule: milestones must be epochs > 0, got " << m);
  check_gamma("multistep schedule", o.gamma);
}

double MultiStepLR::next_lr(double lr, std::int64_t epoch) const {
  const auto count = std::count(options_.milestones.begin(), options_.milestones.end(), epoch);
  if (count == 0) return lr;
  return lr * std::pow(options_.gamma, static_cast<double>(count));  // Python: gamma ** count
}

// ---- CosineWarmupLR ----

CosineWarmupLR::CosineWarmupLR(Optimizer& optimizer, std::int64_t warmup_epochs, std::int64_t total_epochs,
                               double warmup_start_factor, double eta_min)
    : LRScheduler(optimizer, {.warmup_epochs = warmup_epochs,
                              .warmup_start_factor = warmup_start_factor,
                              .total_epochs = total_epochs,
                              .eta_min = eta_min}) {
  start();
}

void CosineWarmupLR::validate(const ScheduleOptions& o) const {
  EDAT_CHECK(o.warmup_epochs >= 0, "cosine schedule: warmup_epochs must be >= 0, got " << o.warmup_epochs);
  EDAT_CHECK(o.total_epochs > o.warmup_epochs, "cosine schedule: total_epochs (" << o.total_epochs
                                                                                 << ") must exceed warmup_epochs ("
                                                                                 << o.warmup_epochs << ")");
  EDAT_CHECK(std::isfinite(o.warmup_start_factor) && o.warmup_start_factor > 0 && o.warmup_start_factor <= 1,
             "cosine schedule: warmup_start_factor must be in (0, 1], got " << o.warmup_start_factor);
  EDAT_CHECK(std::isfinite(o.eta_min) && o.eta_min >= 0, "cosine schedule: eta_min must be >= 0, got " << o.eta_min);
}

// SequentialLR's construction leaves LinearLR's first rate: base * start_factor.
double CosineWarmupLR::initial_lr(double base) const {
  return options_.warmup_epochs > 0 ? base * options_.warmup_start_factor : base;
}

double CosineWarmupLR::next_lr(double lr, std::int64_t epoch) const {
  const std::int64_t warmup = options_.warmup_epochs;
  const double eta_min = options_.eta_min, base = base_lr();
  constexpr double pi = std::numbers::pi;  // math.pi
  if (epoch < warmup) {
    // LinearLR.get_lr with end_factor 1:
    //   lr * (1. + (end - start) / (total_iters * start + (last_epoch - 1) * (end - start)))
    const double start = options_.warmup_start_factor, end = 1.0;
    return lr * (1. + (end - start) /
                          (static_cast<double>(warmup) * start + static_cast<double>(epoch - 1) * (end - start)));
  }
  const std::int64_t k = epoch - warmup, t_max = options_.total_epochs - warmup;
  const double T = static_cast<double>(t_max);
  if (warmup > 0 && k == 0) {
    // SequentialLR calls CosineAnnealingLR.step(0): its closed form at last_epoch 0.
    return eta_min + (base - eta_min) * (1 + std::cos(pi * 0.0 / T)) / 2;
  }
  // CosineAnnealingLR.get_lr at last_epoch k >= 1.
  if (python_mod(k - 1 - t_max, 2 * t_max) == 0) return lr + (base - eta_min) * (1 - std::cos(pi / T)) / 2;
  return (1 + std::cos(pi * static_cast<double>(k) / T)) / (1 + std::cos(pi * static_cast<double>(k - 1) / T)) *
             (lr - eta_min) +
         eta_min;
}

// ---- FixedLR ----

FixedLR::FixedLR(Optimizer& optimizer) : LRScheduler(optimizer, {}) { start(); }

std::unique_ptr<LRScheduler> make_scheduler(const std::string& name, Optimizer& optimizer, const ScheduleOptions& o) {
  if (name == "step") return std::make_unique<StepLR>(optimizer, o.step_size, o.gamma);
  if (name == "multistep") return std::make_unique<MultiStepLR>(optimizer, o.milestones, o.gamma);
  if (name == "cosine")
    return std::make_unique<CosineWarmupLR>(optimizer, o.warmup_epochs, o.total_epochs, o.warmup_start_factor,
                                            o.eta_min);
  if (name == "fixed" || name == "none") return std::make_unique<FixedLR>(optimizer);
  throw Error("unknown learning-rate schedule '" + name + "': expected step, multistep, cosine or fixed");
}

}  // namespace edat::optim
