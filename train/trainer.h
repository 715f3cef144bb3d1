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
//
// Data parallel (mpirun -np N train_resnet ...; dist/): every process trains a replica of the model on its slice of
// each global batch (--batch-size stays the global batch; data/loader.h, LoaderOptions::shard), the gradients are
// summed across processes in buckets during backward (dist/gradient_reducer.h), and every process steps alike. Rank
// 0 alone writes the run folder; evaluation is spread over the processes and gathered (train/replicas.h); a stop
// signal on any process stops them all after the same step.
#pragma once
#include <array>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "data/loader.h"
#include "dist/communicator.h"
#include "dist/gradient_reducer.h"
#include "models/backbone.h"
#include "optim/optimizer.h"
#include "optim/schedules.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/evaluate.h"
#include "train/objective.h"
#include "train/progress.h"
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
  void train_step(const data::Batch& batch, std::size_t global_size, std::int64_t epoch, Progress& bar);
  // Whether the batch (this process's part of it) can be trained on; says once why not.
  bool trainable(const data::Batch& batch, std::size_t global_size, std::size_t smallest_part, std::int64_t epoch);
  Predictions predict(const data::Dataset& split);  // over every process's shard, gathered
  bool writer() const { return comm_.rank() == 0; }  // rank 0 writes the run folder
  void end_epoch(std::int64_t epoch, double images_per_second, double seconds);
  EpochMetrics validate_epoch(std::int64_t epoch, double images_per_second, double seconds);  // and logs it
  void validate_partial_first_epoch();
  void save_checkpoint_now();
  void lock_run_folder();               // run.lock, held while the Trainer lives; refused when another run has it
  void remove_stale_temporary_files();  // *.tmp-PID left by a run killed mid-write
  std::string non_finite_loss_message(double loss, std::int64_t epoch, std::size_t batch_index) const;
  RunResult finish(RunStatus status);

  TrainConfig config_;
  dist::Communicator& comm_;
  std::unique_ptr<dist::GradientReducer> reducer_;  // with more than one process
  double step_seconds_ = 0, collective_seconds_ = 0;  // training steps, and their time in collectives
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
  bool skipped_empty_part_ = false;    // a batch too small to give every process an image was skipped (said once)
  std::FILE* log_file_ = nullptr;
  int lock_fd_ = -1;
  std::array<double, 2> partial_epoch_speed_{};  // images/s and seconds of an epoch cut short by --max-steps
  struct Tracking;  // metrics.csv and the TensorBoard writer
  std::unique_ptr<Tracking> tracking_;
};

}  // namespace edat::train
