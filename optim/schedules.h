// Learning-rate schedules, each giving exactly the learning rates of the PyTorch scheduler of that name:
//
//   StepLR(step_size, gamma)            torch.optim.lr_scheduler.StepLR: lr * gamma every step_size epochs
//   MultiStepLR(milestones, gamma)      torch.optim.lr_scheduler.MultiStepLR: lr * gamma at each milestone
//   CosineWarmupLR(warmup, total, ...)  SequentialLR([LinearLR(start_factor, total_iters=warmup),
//                                                     CosineAnnealingLR(T_max=total - warmup, eta_min)],
//                                                    milestones=[warmup])  (just the cosine when warmup is 0)
//   FixedLR                             the base learning rate throughout (no schedule)
//
// "Exactly" means bit for bit: PyTorch computes each epoch's rate from the previous one (the schedulers' "chainable"
// get_lr), so rounding accumulates in a particular way; lr_at() repeats the same double operations in the same order.
// A scheduler drives an optimizer: construction sets the optimizer's lr to lr_at(0) (base = the optimizer's lr at
// that moment, PyTorch's initial_lr), and each step() (once per epoch, after the epoch's optimizer steps) moves to the
// next epoch and sets lr_at(epoch).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace edat::optim {

// Every schedule's settings; each uses its own.
struct ScheduleOptions {
  std::int64_t step_size = 30;                // step: epochs between decays
  std::vector<std::int64_t> milestones = {};  // multistep: epochs at which to decay (a repeated one decays twice)
  double gamma = 0.1;                         // step, multistep: the decay factor
  std::int64_t warmup_epochs = 0;        // cosine: linear warm-up from base lr * warmup_start_factor to base lr ...
  double warmup_start_factor = 1.0 / 3;  // ... (PyTorch LinearLR's start_factor, in (0, 1])
  std::int64_t total_epochs = 0;         // cosine: warm-up plus annealing epochs (T_max = total - warmup)
  double eta_min = 0;                    // cosine: the rate annealed towards
};

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  virtual const char* type() const = 0;  // "step", "multistep", "cosine", "fixed"

  // The learning rate after `epoch` calls of step() (epoch 0: before any): PyTorch's get_last_lr() at that point.
  double lr_at(std::int64_t epoch) const;
  void step();  // next epoch; sets the optimizer's learning rate
  std::int64_t epoch() const { return epoch_; }
  double lr() const { return lr_; }
  double base_lr() const { return base_lr_; }
  const ScheduleOptions& options() const { return options_; }

  // JSON with the type, options, base lr and epoch; loading sets the optimizer's lr to lr_at(epoch) of the loaded
  // settings. A state of another schedule type is an edat::Error.
  std::string state_json() const;
  void load_state_json(const std::string& json);

 protected:
  LRScheduler(Optimizer& optimizer, const ScheduleOptions& options);
  // Subclass constructors end with start(): it validates (virtual) and applies epoch 0.
  void start();
  virtual void validate(const ScheduleOptions& options) const = 0;
  virtual double initial_lr(double base) const { return base; }
  // PyTorch's chainable form: the rate of `epoch` (>= 1) from the rate of epoch - 1.
  virtual double next_lr(double lr, std::int64_t epoch) const = 0;
  ScheduleOptions options_;

 private:
  Optimizer& optimizer_;
  double base_lr_;
  double lr_;
  std::int64_t epoch_ = 0;
};

class StepLR final : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1);
  const char* type() const override { return "step"; }

 protected:
  void validate(const ScheduleOptions& options) const override;
  double next_lr(double lr, std::int64_t epoch) const override;
};

class MultiStepLR final : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<std::int64_t> milestones, double gamma = 0.1);
  const char* type() const override { return "multistep"; }

 protected:
  void validate(const ScheduleOptions& options) const override;
  double next_lr(double lr, std::int64_t epoch) const override;
};

class CosineWarmupLR final : public LRScheduler {
 public:
  CosineWarmupLR(Optimizer& optimizer, std::int64_t warmup_epochs, std::int64_t total_epochs,
                 double warmup_start_factor = 1.0 / 3, double eta_min = 0);
  const char* type() const override { return "cosine"; }

 protected:
  void validate(const ScheduleOptions& options) const override;
  double initial_lr(double base) const override;
  double next_lr(double lr, std::int64_t epoch) const override;
};

class FixedLR final : public LRScheduler {
 public:
  explicit FixedLR(Optimizer& optimizer);
  const char* type() const override { return "fixed"; }

 protected:
  void validate(const ScheduleOptions&) const override {}
  double next_lr(double lr, std::int64_t) const override { return lr; }
};

// "step", "multistep", "cosine" or "fixed" (also "none"), with the fields of `options` that schedule uses; anything
// else is an edat::Error listing the names.
std::unique_ptr<LRScheduler> make_scheduler(const std::string& name, Optimizer& optimizer,
                                            const ScheduleOptions& options);

}  // namespace edat::optim
