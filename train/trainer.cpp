#include "train/trainer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <cmath>
#include <csignal>
#include <cstdarg>
#include <ctime>
#include <numeric>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "data/face_crop_record.h"
#include "layers/functional.h"
#include "layers/modules.h"
#include "models/transfer.h"
#include "optim/clip.h"
#include "tensor/backend.h"
#include "tensor/determinism.h"
#include "tensor/error.h"
#include "tensor/factory.h"
#include "track/metrics.h"
#include "track/report.h"
#include "track/tensorboard.h"
#include "train/progress.h"
#include "train/replicas.h"
#include "weights/pretrained.h"
#include "weights/safetensors.h"

namespace edat::train {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int signal_number) {
  g_stop.store(true);
  std::signal(signal_number, SIG_DFL);  // a second signal ends the process at once
}

std::string default_out(const TrainConfig& c) {
  const std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return "runs/" + c.dataset + "-" + c.arch + "-" + stamp;
}

ModelDescription describe(const TrainConfig& c, const data::Dataset& train) {
  ModelDescription d;
  d.arch = c.arch;
  d.loss = c.loss;
  d.img_size = c.img_size;
  d.resize = c.resize_size();
  double low = INFINITY, high = -INFINITY;
  for (std::size_t i = 0; i < train.size(); ++i) {
    low = std::min(low, static_cast<double>(train.sample(i).age));
    high = std::max(high, static_cast<double>(train.sample(i).age));
  }
  if (high > 0) d.max_age = high;  // predictions are clamped to [0, max_age]
  // How the training images were cut out of photos: crop_faces' record beside the training list, else in the root.
  data::FaceCropRecord crop;
  if (!c.train_csv.empty()) crop = data::read_face_crop_record(std::filesystem::path(c.train_csv).parent_path());
  if (crop.method == data::FaceCropRecord::Method::none) crop = data::read_face_crop_record(c.data_root);
  d.face_crop = crop.text();
  if (c.loss == "coral") {
    d.coral_min_age = static_cast<std::int64_t>(std::floor(low));
    d.coral_classes = static_cast<std::int64_t>(std::ceil(high)) - d.coral_min_age + 1;
    EDAT_CHECK(d.coral_classes >= 2, "--loss coral needs at least two different ages in the training split");
  }
  return d;
}

// Adds the seconds its scope lasts to a counter.
class ScopedSeconds {
 public:
  explicit ScopedSeconds(double& total) : total_(total), start_(std::chrono::steady_clock::now()) {}
  ~ScopedSeconds() { total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
  ScopedSeconds(const ScopedSeconds&) = delete;
  ScopedSeconds& operator=(const ScopedSeconds&) = delete;

 private:
  double& total_;
  std::chrono::steady_clock::time_point start_;
};

bool batch_norm_in_training(models::Backbone& model) {
  for (auto& [name, module] : model.named_modules())
    if (dynamic_cast<nn::BatchNorm2d*>(module) != nullptr && module->is_training()) return true;
  return false;
}

}  // namespace

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}
bool stop_requested() { return g_stop.load(); }
void clear_stop_request() { g_stop.store(false); }

// metrics.csv, rewritten whole from the history at a (re)start and appended to after each epoch, and the same
// numbers as TensorBoard scalars at the same global step (a resumed run adds a new event file to the folder;
// TensorBoard reads them all).
struct Trainer::Tracking {
  std::string metrics_path;
  track::EventWriter events;
  explicit Tracking(const std::string& out) : metrics_path((fs::path(out) / "metrics.csv").string()), events(out) {}
  void add_scalars(const EpochMetrics& m) {
    const std::int64_t step = m.step;  // the global step, as metrics.csv's step column
    events.add_scalar("loss/train", m.train_loss, step);
    events.add_scalar("loss/valid", m.valid_loss, step);
    events.add_scalar("valid/mae", m.valid_mae, step);
    events.add_scalar("valid/rmse", m.valid_rmse, step);
    if (m.ema_valid_mae >= 0) events.add_scalar("valid/mae_ema", m.ema_valid_mae, step);
    events.add_scalar("lr", m.lr, step);
    events.add_scalar("speed/images_per_second", m.images_per_second, step);
    events.flush();
  }
  static constexpr const char* header =
      "epoch,step,train_loss,valid_loss,valid_mae,valid_rmse,lr,images_per_second,seconds,ema_valid_mae\n";
  static std::string row(const EpochMetrics& m) {  // ema_valid_mae empty without --ema
    char line[256], ema[32] = "";
    if (m.ema_valid_mae >= 0) std::snprintf(ema, sizeof ema, "%.4f", m.ema_valid_mae);
    std::snprintf(line, sizeof line, "%lld,%lld,%.6f,%.6f,%.4f,%.4f,%.6g,%.1f,%.2f,%s\n",
                  static_cast<long long>(m.epoch), static_cast<long long>(m.step), m.train_loss, m.valid_loss,
                  m.valid_mae, m.valid_rmse, m.lr, m.images_per_second, m.seconds, ema);
    return line;
  }
  void restart(const std::vector<EpochMetrics>& history) {
    std::ofstream out(metrics_path, std::ios::trunc);
    EDAT_CHECK(out, "cannot write '" << metrics_path << "'");
    out << header;
    for (const auto& m : history) out << row(m);
  }
  void append(const EpochMetrics& m) {
    std::ofstream out(metrics_path, std::ios::app);
    EDAT_CHECK(out << row(m), "cannot append to '" << metrics_path << "'");
  }
};

Trainer::Trainer(TrainConfig config, bool resume) : config_(std::move(config)), comm_(dist::world()) {
  validate(config_);
  comm_.set_timeout(config_.dist_timeout);
  // Checked before the run folder exists, so that a mistyped path leaves nothing behind.
  EDAT_CHECK(resume || config_.pretrained.empty() || !writer() || fs::exists(config_.pretrained),
             "--pretrained " << config_.pretrained << ": no such file (a relative path starts from the current folder, "
                             << fs::current_path().string() << "); make it from torchvision's weights with "
                             << "convert_weights, e.g. convert_weights resnet34-b627a593.pth " << config_.pretrained);
  if (config_.out.empty() && writer()) config_.out = default_out(config_);
  agree_on_settings(comm_, config_);
  device_ = Device::parse(config_.device);
  if (comm_.distributed() && device_.is_cuda()) device_ = Device::cuda(comm_.local_rank());  // one GPU per process
  if (config_.deterministic) set_deterministic(true);  // before any CUDA work: cuDNN's choices are cached per mode
  EDAT_CHECK(!device_.is_cuda() || cuda::is_available(),
             "--device cuda: no CUDA device is available (" << cuda::unavailable_reason() << "); use --device cpu");
  open_run_folder(resume);
  splits_ = open_splits(config_);
  log("data: %s\n", splits_.description.c_str());
  if (comm_.distributed()) {
    log("data parallel: %d processes (MPI%s), each with a replica and 1/%d of every batch of %lld; batch norm: %s\n",
        comm_.size(), device_.is_cuda() ? ", gradients through NCCL" : "", comm_.size(),
        static_cast<long long>(config_.batch_size),
        config_.sync_bn ? "statistics over all processes (--sync-bn)" : "each process's own statistics");
    if (config_.sync_bn) nn::set_batch_norm_sync([this](const Tensor& x) { return dist::all_reduce_sum(x, comm_); });
  }
  median_age_ = median_age(*splits_.train);
  objective_ = std::make_unique<AgeObjective>(describe(config_, *splits_.train));
  make_model(resume);
  make_optimizer_and_loader();
  if (writer()) tracking_ = std::make_unique<Tracking>(config_.out);
  if (resume) {
    // Every process reads the checkpoint: the run folder must be on a file system they all see.
    EDAT_CHECK(fs::exists(path("checkpoint.safetensors")),
               comm_.who() << ": --resume needs " << path("checkpoint.safetensors")
                           << " on every machine of the job (a shared file system)");
    progress_ = load_checkpoint(path("checkpoint.safetensors"), *model_, *optimizer_, *scheduler_, average_.get());
    log("resumed from %s: epoch %lld, batch %lld, step %lld\n", path("checkpoint.safetensors").c_str(),
        static_cast<long long>(progress_.epoch + 1), static_cast<long long>(progress_.batch),
        static_cast<long long>(progress_.step));
    // A limit the run already reached would stop the resumed run at once: it is lifted, and said so.
    if (config_.max_steps > 0 && progress_.step >= config_.max_steps) {
      log("--max-steps %lld was reached before; the resumed run goes on to --epochs %lld (give --max-steps N for "
          "a new limit)\n",
          static_cast<long long>(config_.max_steps), static_cast<long long>(config_.epochs));
      config_.max_steps = 0;
    }
    if (progress_.processes != comm_.size()) {
      log("note: the checkpoint was written by %lld process(es), this run has %d: the global batches, their order "
          "and the schedule continue unchanged, each batch is now split %d ways; per-process batch-norm statistics "
          "(without --sync-bn) and the order of floating-point sums change, so the result is not bit-identical to "
          "continuing with %lld\n",
          static_cast<long long>(progress_.processes), comm_.size(), comm_.size(),
          static_cast<long long>(progress_.processes));
    }
  }
  progress_.processes = comm_.size();
  if (tracking_) tracking_->restart(progress_.history);
}

void Trainer::open_run_folder(bool resume) {
  if (!writer()) return;  // rank 0 checks, creates and locks the folder; an error there ends the job
  if (resume) {
    EDAT_CHECK(fs::exists(path("checkpoint.safetensors")),
               "--resume " << config_.out << ": no checkpoint.safetensors there to resume from");
  } else {
    EDAT_CHECK(!fs::exists(path("checkpoint.safetensors")),
               "the run folder '" << config_.out << "' already holds a run; resume it with --resume " << config_.out
                                  << ", or choose another --out");
  }
  fs::create_directories(config_.out);
  lock_run_folder();
  log_file_ = std::fopen(path("train.log").c_str(), resume ? "a" : "w");
  EDAT_CHECK(log_file_ != nullptr, "cannot write '" << path("train.log") << "'");
  remove_stale_temporary_files();
  save_config(path("config.json"), config_);
}

// Two runs in one folder would interleave metrics.csv and train.log and overwrite each other's weights. The lock is
// flock(2) on run.lock: the kernel drops it when the process ends, however it ends, so a killed run never leaves
// the folder locked.
void Trainer::lock_run_folder() {
  const std::string lock_path = path("run.lock");
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  EDAT_CHECK(lock_fd_ >= 0, "cannot create '" << lock_path << "': " << std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    char holder[32] = {};
    const ssize_t n = ::pread(lock_fd_, holder, sizeof holder - 1, 0);
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw Error("the run folder '" + config_.out + "' is in use by another train_resnet (process " +
                (n > 0 ? std::string(holder, static_cast<std::size_t>(n)) : std::string("?")) +
                "); wait for it to end, or choose another --out");
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0) {
    // The pid is only for the message above; the lock itself holds.
  }
}

// A run killed while writing a checkpoint leaves NAME.tmp-PID behind (weights/file_io.h); with the folder locked,
// no other process can be writing one, so every such file is stale.
void Trainer::remove_stale_temporary_files() {
  int removed = 0;
  for (const auto& entry : fs::directory_iterator(config_.out)) {
    const std::string name = entry.path().filename().string();
    const std::size_t tmp = name.rfind(".tmp-");
    if (tmp == std::string::npos || tmp + 5 == name.size()) continue;
    if (name.find_first_not_of("0123456789", tmp + 5) != std::string::npos) continue;
    std::error_code error;
    if (fs::remove(entry.path(), error)) ++removed;
  }
  if (removed > 0) log("removed %d temporary file(s) left by a run that was killed while writing\n", removed);
}

void Trainer::make_model(bool resume) {
  Generator generator(static_cast<std::uint64_t>(config_.seed));
  model_ = build_model(objective_->description(), generator);
  bool head_loaded = false;
  // A resumed run's weights come from its checkpoint; the other processes get rank 0's weights below.
  if (!config_.pretrained.empty() && !resume && writer()) {
    const nn::LoadReport report = weights::load_pretrained(*model_, config_.pretrained);
    log("pretrained: %s: %s\n", config_.pretrained.c_str(), report.summary().c_str());
    head_loaded = std::any_of(report.loaded.begin(), report.loaded.end(),
                              [&](const std::string& name) { return name.rfind(model_->head_name() + ".", 0) == 0; });
  }
  // A new regression head starts at the training median: the network then learns corrections around it rather than
  // spending its first hundreds of steps climbing from 0 to typical ages.
  if (!head_loaded && config_.loss != "coral") {
    for (auto& [name, tensor] : model_->named_parameters()) {
      if (name == model_->head_name() + ".bias") {
        NoGradGuard no_grad;
        tensor.copy_(full(tensor.shape(), median_age_, {.dtype = tensor.dtype()}));
      }
    }
  }
  const auto transfer = models::apply_transfer_mode(*model_, models::parse_transfer_mode(config_.mode),
                                                    models::split_parts(config_.trainable));
  // A dropout given replaces the architecture's own before the head; its masks come from a generator seeded by the
  // run's seed (not the process-wide default generator, whose position depends on what ran before), so that a run is
  // a function of its settings. (The architectures' own dropouts draw from `generator` too, since construction.)
  if (config_.dropout >= 0) model_->set_head_dropout(config_.dropout, generator);
  log("model: %s, %s, loss %s; %s\n", config_.arch.c_str(), config_.mode.c_str(), config_.loss.c_str(),
      transfer.str().c_str());
  model_->to(device_);
  model_->train();
  share_rank0_state(comm_, *model_);
}

void Trainer::make_optimizer_and_loader() {
  optimizer_ = optim::make_optimizer(config_.optimizer, model_->named_parameters(),
                                     {.lr = config_.lr,
                                      .momentum = config_.optimizer == "sgd" ? config_.momentum : 0,
                                      .weight_decay = config_.weight_decay});
  const bool constant = config_.lr_scheduler == "step" && config_.lr_step_size == 0;
  scheduler_ = optim::make_scheduler(constant ? "fixed" : config_.lr_scheduler, *optimizer_,
                                     {.step_size = config_.lr_step_size,
                                      .milestones = lr_milestones(config_),
                                      .gamma = config_.lr_gamma,
                                      .warmup_epochs = config_.warmup_epochs,
                                      .total_epochs = config_.epochs});
  data::LoaderOptions options;
  options.batch_size = static_cast<int>(config_.batch_size);
  options.shuffle = !config_.no_shuffle;
  options.seed = static_cast<std::uint64_t>(config_.seed);
  options.workers = static_cast<int>(config_.workers);
  options.device = device_;
  options.cache_decoded = config_.cache_images;
  options.max_pixels = config_.max_image_pixels;
  options.shard = comm_.rank();
  options.shards = comm_.size();
  train_loader_ = std::make_unique<data::Loader>(*splits_.train, train_transforms(config_), options);
  if (config_.ema > 0) average_ = std::make_unique<WeightAverage>(*model_, config_.ema);
  if (comm_.distributed()) reducer_ = std::make_unique<dist::GradientReducer>(comm_, model_->trainable_parameters());
}

Trainer::~Trainer() {
  if (config_.sync_bn) nn::set_batch_norm_sync({});
  if (log_file_) std::fclose(log_file_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

std::string Trainer::path(const std::string& file) const { return (fs::path(config_.out) / file).string(); }

void Trainer::log(const char* format, ...) {
  if (!writer()) return;
  char text[2048];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof text, format, args);
  va_end(args);
  std::fputs(text, stdout);
  std::fflush(stdout);
  if (log_file_) {
    std::fputs(text, log_file_);
    std::fflush(log_file_);
  }
}

void Trainer::save_checkpoint_now() {
  if (!writer()) return;
  save_checkpoint(path("checkpoint.safetensors"), *model_, *optimizer_, *scheduler_, progress_,
                  objective_->description(), average_.get());
}

RunResult Trainer::run() {
  log("training %lld epochs of %zu batches (%zu images, batch %lld) on %s; run folder %s\n",
      static_cast<long long>(config_.epochs), train_loader_->batches_per_epoch(), splits_.train->size(),
      static_cast<long long>(config_.batch_size), device_.str().c_str(), config_.out.c_str());
  RunStatus status = RunStatus::completed;
  while (progress_.epoch < config_.epochs && status == RunStatus::completed) {
    train_epoch(progress_.epoch, status);
  }
  if (reducer_ && step_seconds_ > 0) {
    log("data parallel: %.1f%% of the training steps' time was spent in collectives (%.2f of %.2f s; %.2f s of it "
        "waiting after backward for the gradient reductions of %zu bucket(s) that backward did not hide, the rest "
        "agreeing with the other processes on batch sizes, loss and stopping)\n",
        100 * collective_seconds_ / step_seconds_, collective_seconds_, step_seconds_, reducer_->waiting_seconds(),
        reducer_->buckets());
  }
  return finish(status);
}

void Trainer::train_epoch(std::int64_t epoch, RunStatus& status) {
  const std::string label = "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(config_.epochs);
  const std::size_t first = static_cast<std::size_t>(progress_.batch);
  Progress bar(label, train_loader_->batches_per_epoch(), first, config_.progress_seconds, writer());
  model_->train();
  train_loader_->start_epoch(static_cast<std::uint64_t>(epoch), first);
  while (auto batch = train_loader_->next()) {
    const ScopedSeconds step_time(step_seconds_);
    // The global batch: its size and the smallest part a process has (all the same with one process).
    std::size_t global_size = batch->size(), smallest_part = batch->size();
    if (comm_.distributed()) {
      const ScopedSeconds waiting(collective_seconds_);
      const std::vector<double> parts = comm_.all_gather({static_cast<double>(batch->size())}, "the batch sizes");
      global_size = static_cast<std::size_t>(std::accumulate(parts.begin(), parts.end(), 0.0));
      smallest_part = static_cast<std::size_t>(*std::min_element(parts.begin(), parts.end()));
    }
    if (trainable(*batch, global_size, smallest_part, epoch)) train_step(*batch, global_size, epoch, bar);
    progress_.batch = static_cast<std::int64_t>(batch->index) + 1;
    bar.update(batch->index + 1, global_size,
               progress_.loss_count ? progress_.loss_sum / static_cast<double>(progress_.loss_count) : 0);
    const bool at_max = config_.max_steps > 0 && progress_.step >= config_.max_steps;
    // A signal on any process stops every process after this same step.
    bool stop = stop_requested();
    if (comm_.distributed()) {
      const ScopedSeconds waiting(collective_seconds_);
      stop = comm_.any(stop, "the stop flag");
    }
    if (at_max || stop) {
      bar.finish();
      status = at_max ? RunStatus::max_steps : RunStatus::interrupted;
      // An epoch ended by its last batch is closed normally (validation, schedule) before stopping.
      if (progress_.batch < static_cast<std::int64_t>(train_loader_->batches_per_epoch())) {
        save_checkpoint_now();
        partial_epoch_speed_ = {bar.images_per_second(), bar.seconds()};
        return;
      }
      break;
    }
  }
  bar.finish();
  end_epoch(epoch, bar.images_per_second(), bar.seconds());
}

bool Trainer::trainable(const data::Batch& batch, std::size_t global_size, std::size_t smallest_part,
                        std::int64_t epoch) {
  if (global_size == 0) return false;  // every image unreadable (counted by the loader)
  // BatchNorm cannot normalise one image whose last feature map is 1x1, and one image is a poor estimate of the
  // batch statistics anyway; the batch is skipped (the same on resume, so a run can always finish). With
  // per-process statistics, that is one image on any process.
  const std::size_t statistics_over = config_.sync_bn ? global_size : smallest_part;
  if (statistics_over == 1 && batch_norm_in_training(*model_)) {
    if (!skipped_single_batch_) {
      log("note: a batch of one image%s (epoch %lld, batch %zu) is skipped: BatchNorm in training mode needs more; "
          "said once per run\n",
          comm_.distributed() && !config_.sync_bn ? " on a process" : "", static_cast<long long>(epoch + 1),
          batch.index + 1);
    }
    skipped_single_batch_ = true;
    return false;
  }
  if (smallest_part == 0) {  // a process without an image cannot take part in backward
    if (!skipped_empty_part_) {
      log("note: the batch of %zu images (epoch %lld, batch %zu) is skipped: too small to give each of the %d "
          "processes an image; said once per run\n",
          global_size, static_cast<long long>(epoch + 1), batch.index + 1, comm_.size());
    }
    skipped_empty_part_ = true;
    return false;
  }
  return true;
}

// One optimizer step. With several processes, each one's loss is weighted by its share of the global batch, so
// that the gradients summed across processes are those of the global batch's mean loss, as one process computes.
void Trainer::train_step(const data::Batch& batch, std::size_t global_size, std::int64_t epoch, Progress& bar) {
  optimizer_->zero_grad();
  Tensor loss = objective_->loss(model_->forward(batch.images), batch.ages);
  const double share = static_cast<double>(batch.size()) / static_cast<double>(global_size);
  double value = loss.item();
  if (reducer_) {
    const ScopedSeconds waiting(collective_seconds_);
    value = comm_.sum(value * share, "the training loss");  // the same on every process
  }
  if (!std::isfinite(value)) {
    bar.finish();
    throw Error(non_finite_loss_message(value, epoch, batch.index));
  }
  if (reducer_) {
    {
      const auto hook = reducer_->hook();
      (loss * share).backward();
    }
    const ScopedSeconds waiting(collective_seconds_);
    reducer_->finish();
  } else {
    loss.backward();
  }
  if (config_.clip_grad_norm > 0) optim::clip_grad_norm(model_->trainable_parameters(), config_.clip_grad_norm);
  optimizer_->step();
  if (average_) average_->update(*model_);
  progress_.loss_sum += value * static_cast<double>(global_size);
  progress_.loss_count += static_cast<std::int64_t>(global_size);
  if (reducer_ && progress_.step == 0) check_replicas_equal(comm_, *model_);
  ++progress_.step;
}

Predictions Trainer::predict(const data::Dataset& split) {
  share_rank0_state(comm_, *model_, /*buffers_only=*/true);  // per-process batch-norm statistics: rank 0's
  return gather_predictions(comm_, predict_dataset(*model_, *objective_, split, train_loader_->options()), split);
}

// Says what is true: whether a checkpoint exists yet, and whether any update had been applied (a loss that is
// not finite at the first step comes from the data or the initial weights, not from the learning rate).
std::string Trainer::non_finite_loss_message(double loss, std::int64_t epoch, std::size_t batch_index) const {
  std::ostringstream out;
  out << "the training loss is " << loss << " at epoch " << epoch + 1 << ", batch " << batch_index + 1 << " (step "
      << progress_.step + 1 << "): training stopped before applying it; ";
  if (progress_.step == 0) {
    out << "no update had been applied yet, so the images, the ages or the initial weights (--pretrained) hold NaN "
           "or infinite values";
  } else {
    out << "the training diverged after " << progress_.step << " updates (a lower --lr than " << config_.lr
        << " usually helps)";
  }
  if (fs::exists(path("checkpoint.safetensors"))) {
    out << "; the last good checkpoint is " << path("checkpoint.safetensors") << " (--resume " << config_.out << ")";
  } else {
    out << "; no checkpoint was written yet (the first is written at the end of epoch 1)";
  }
  return out.str();
}

void Trainer::end_epoch(std::int64_t epoch, double images_per_second, double seconds) {
  const EpochMetrics m = validate_epoch(epoch, images_per_second, seconds);
  if (m.better_mae() < progress_.best_valid_mae) {
    progress_.best_valid_mae = m.better_mae();
    progress_.best_epoch = m.epoch;
    if (m.average_is_better()) average_->swap_with(*model_);
    if (writer()) save_weights(path("best.safetensors"), *model_, objective_->description());
    if (m.average_is_better()) average_->swap_with(*model_);
  }
  progress_.history.push_back(m);
  if (tracking_) {
    tracking_->append(m);
    tracking_->add_scalars(m);
  }
  scheduler_->step();
  progress_.epoch = epoch + 1;
  progress_.batch = 0;
  progress_.loss_sum = 0;
  progress_.loss_count = 0;
  save_checkpoint_now();
}

EpochMetrics Trainer::validate_epoch(std::int64_t epoch, double images_per_second, double seconds) {
  const Predictions valid = predict(*splits_.valid);
  EpochMetrics m;
  if (average_) {
    average_->swap_with(*model_);
    m.ema_valid_mae = predict(*splits_.valid).metrics().mae;
    average_->swap_with(*model_);
  }
  m.epoch = epoch + 1;
  m.step = progress_.step;
  m.train_loss = progress_.loss_count ? progress_.loss_sum / static_cast<double>(progress_.loss_count) : NAN;
  m.valid_loss = valid.mean_loss;
  const track::AgeMetrics metrics = valid.metrics();
  m.valid_mae = metrics.mae;
  m.valid_rmse = metrics.rmse;
  m.lr = optimizer_->lr();
  m.images_per_second = images_per_second;
  m.seconds = seconds;
  const bool best = m.better_mae() < progress_.best_valid_mae;
  char average[64] = "";
  if (m.ema_valid_mae >= 0) std::snprintf(average, sizeof average, ", averaged weights' valid MAE %.3f", m.ema_valid_mae);
  const bool partial = progress_.batch < static_cast<std::int64_t>(train_loader_->batches_per_epoch());
  log("epoch %lld/%lld%s: train loss %.4f, valid loss %.4f, valid MAE %.3f, RMSE %.3f%s, lr %.3g, %.0f img/s, %.1f s%s\n",
      static_cast<long long>(m.epoch), static_cast<long long>(config_.epochs),
      partial ? (" (" + std::to_string(progress_.batch) + " batches)").c_str() : "", m.train_loss, m.valid_loss,
      m.valid_mae, m.valid_rmse, average, m.lr, m.images_per_second, m.seconds, best ? " (best)" : "");
  return m;
}

// A run stopped by --max-steps before its first epoch ended would leave no numbers at all: its weights are
// validated as they are and become best.safetensors, with a metrics.csv row, so that the test evaluation and the
// report follow. The checkpoint (saved before) is untouched, and a resume rewrites metrics.csv from its history.
void Trainer::validate_partial_first_epoch() {
  const EpochMetrics m = validate_epoch(progress_.epoch, partial_epoch_speed_[0], partial_epoch_speed_[1]);
  progress_.best_valid_mae = m.valid_mae;
  progress_.best_epoch = m.epoch;
  if (writer()) save_weights(path("best.safetensors"), *model_, objective_->description());
  if (tracking_) tracking_->append(m);
  progress_.history.push_back(m);  // for the report; the checkpoint does not hold it
}

RunResult Trainer::finish(RunStatus status) {
  // Only a run that went through all its epochs has final weights; a stopped one has its last.
  const bool stopped = status != RunStatus::completed;
  if (writer()) save_weights(path(stopped ? "last.safetensors" : "final.safetensors"), *model_, objective_->description());
  RunResult result;
  result.status = status;
  if (stopped) {
    log("%s after step %lld: checkpoint saved, weights in last.safetensors; continue with --resume %s\n",
        status == RunStatus::max_steps ? "stopped by --max-steps" : "interrupted",
        static_cast<long long>(progress_.step), config_.out.c_str());
    if (status == RunStatus::interrupted) {
      result.progress = progress_;
      return result;
    }
    // --max-steps makes short runs to compare: they end with the numbers a completed run gives.
    if (progress_.history.empty()) validate_partial_first_epoch();
  }
  result.progress = progress_;
  // The test split is evaluated with the best weights by validation MAE, the model a user keeps.
  if (progress_.best_epoch > 0) {
    if (writer()) model_->load_state_dict(weights::read_safetensors(path("best.safetensors")));
    share_rank0_state(comm_, *model_);
  }
  const data::Dataset& split = splits_.test ? *splits_.test : *splits_.valid;
  const std::string split_name = splits_.test ? "test" : "valid";
  result.test = predict(split);
  const track::AgeMetrics test = result.test->metrics();
  result.median_baseline_mae = track::constant_mae(result.test->truth, median_age_);
  log("%s%s with the best weights (epoch %lld; %zu images): MAE %.3f, RMSE %.3f, CS(5) %.1f%%; always predicting the "
      "training median %.1f: MAE %.3f\n",
      split_name.c_str(), splits_.test ? "" : " (no test split)", static_cast<long long>(progress_.best_epoch),
      test.count, test.mae, test.rmse, 100 * test.cs5, median_age_, result.median_baseline_mae);
  if (!writer()) return result;
  track::write_predictions_csv(path("predictions.csv"), result.test->paths, result.test->truth, result.test->predicted);
  nlohmann::json results = {{"split", split_name},
                            {"images", test.count},
                            {"mae", test.mae},
                            {"rmse", test.rmse},
                            {"cs5", test.cs5},
                            {"median_age", median_age_},
                            {"median_baseline_mae", result.median_baseline_mae},
                            {"best_epoch", progress_.best_epoch},
                            {"best_valid_mae", progress_.best_valid_mae},
                            {"steps", progress_.step}};
  std::ofstream(path("results.json")) << results.dump(2) << "\n";

  track::ReportInput report;
  report.title = "edat: " + config_.arch + " on " + config_.dataset + " (" + split_name + " split)";
  for (const Setting& s : settings()) report.settings.emplace_back(s.name, value_text(config_, s));
  for (const EpochMetrics& e : progress_.history) {
    report.epochs.push_back({static_cast<int>(e.epoch), e.train_loss, e.valid_loss, e.valid_mae, e.valid_rmse, e.lr,
                             e.images_per_second, e.seconds});
  }
  report.test_truth = result.test->truth;
  report.test_predicted = result.test->predicted;
  report.train_median_age = median_age_;
  track::write_report(path("report.html"), report);
  log("report: %s\n", path("report.html").c_str());
  return result;
}

}  // namespace edat::train
