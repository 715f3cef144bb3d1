// Trainer: one training run, as train_resnet runs it. Reading one step top to bottom:
//
//   loader.next() -> model.forward(images) -> objective.loss(outputs, ages) -> loss.backward() -> optimizer.step()
//   (-> the weight average's update, with --ema)
//
// and around the steps: per epoch, validation (MAE, RMSE), the learning-rate schedule, metrics.csv, TensorBoard
// scalars, best.safetensors when the validation MAE improves, and a checkpoint; at the end final.safetensors, the
// test split's predictions and the report. Everything goes into the run folder (config.out):
//
//   config.json  the resolved settings        train.log         what was printed, without progress bars
//   metrics.csv  one line per epoch           events.out.tfevents.*  the same, for tensorboard --logdir
//   checkpoint.safetensors  resume point      best.safetensors, final.safetensors  weights (+ description)
//   predictions.csv, results.json, report.html  the test split at the end
//   run.lock     held while a run uses the folder (one run at a time)
//
// Stopping: --max-steps, or SIGINT/SIGTERM (after install_stop_handlers), end the run after the current step with a
// checkpoint and last.safetensors (final.safetensors is for runs that went through every epoch); resuming from it (Trainer with resume = true) continues exactly: same batches, same augmentation,
// same dropout masks, same optimizer state, so on the CPU the final weights are bit-identical to an uninterrupted
// run's.
#pragma once
#include <array>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "data/loader.h"
#include "models/backbone.h"
#include "optim/optimizer.h"
#include "optim/schedules.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/evaluate.h"
#include "train/objective.h"
#include "train/splits.h"

namespace edat::train {

// SIGINT and SIGTERM set a flag that the training loop reads after each step (a second signal kills as usual).
void install_stop_handlers();
bool stop_requested();
void clear_stop_request();

enum class RunStatus { completed, max_steps, interrupted };

struct RunResult {
  RunStatus status = RunStatus::completed;
  TrainProgress progress;
  std::optional<Predictions> test;  // completed runs: the test split (or valid, without a test split)
  double median_baseline_mae = 0;   // MAE of always predicting the training median on that split
};

class Trainer {
 public:
  // Builds the run of `config` (validated): datasets, loaders, model (pretrained weights, transfer mode), optimizer
  // and schedule. With resume, config.out must hold a checkpoint of the same configuration.
  Trainer(TrainConfig config, bool resume);
  ~Trainer();
  RunResult run();

  models::Backbone& model() { return *model_; }
  const TrainConfig& config() const { return config_; }
  std::string path(const std::string& file) const;  // inside the run folder

 private:
  void open_run_folder(bool resume);  // checks it is new (or resumable), creates it, writes config.json
  void make_model(bool resume);       // architecture, pretrained weights, head bias, transfer mode, device
  void make_optimizer_and_loader();
  void log(const char* format, ...) __attribute__((format(printf, 2, 3)));
  void train_epoch(std::int64_t epoch, RunStatus& status);
  void end_epoch(std::int64_t epoch, double images_per_second, double seconds);
  EpochMetrics validate_epoch(std::int64_t epoch, double images_per_second, double seconds);  // and logs it
  void validate_partial_first_epoch();
  void save_checkpoint_now();
  void lock_run_folder();               // run.lock, held while the Trainer lives; refused when another run has it
  void remove_stale_temporary_files();  // *.tmp-PID left by a run killed mid-write
  std::string non_finite_loss_message(double loss, std::int64_t epoch, std::size_t batch_index) const;
  RunResult finish(RunStatus status);

  TrainConfig config_;
  Device device_;
  Splits splits_;
  std::unique_ptr<AgeObjective> objective_;
  std::shared_ptr<models::Backbone> model_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  std::unique_ptr<optim::LRScheduler> scheduler_;
  std::unique_ptr<WeightAverage> average_;  // --ema
  std::unique_ptr<data::Loader> train_loader_;
  TrainProgress progress_;
  double median_age_ = 0;
  bool skipped_single_batch_ = false;  // a batch of one image was skipped (said once)
  std::FILE* log_file_ = nullptr;
  int lock_fd_ = -1;
  std::array<double, 2> partial_epoch_speed_{};  // images/s and seconds of an epoch cut short by --max-steps
  struct Tracking;  // metrics.csv and the TensorBoard writer
  std::unique_ptr<Tracking> tracking_;
};

}  // namespace edat::train
