// TrainConfig: every setting of a training run, in one struct, and the one table that names them.
//
// The table (settings()) is the single source of truth for three views of the same settings:
//   - train_resnet's flags: `--batch-size 64` (add_to_cli)
//   - the JSON of --config and of OUT/config.json: {"batch-size": 64} (the keys are the flags' names)
//   - the fully resolved copy written at the start of a run, which --resume reads back.
// A JSON key that is not in the table is an error naming it, so a typo in a recipe never passes silently.
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <variant>
#include <vector>

#include "data/decode.h"

namespace CLI {
class App;
}

namespace edat::train {

struct TrainConfig {
  // ---- data ----
  std::string dataset = "appa-real";           // appa-real | cacd | afad | utkface | csv
  std::string data_root;                       // the dataset's image root
  std::string train_csv, valid_csv, test_csv;  // label files overriding the dataset's own layout
  std::string target = "apparent";             // APPA-REAL: apparent | real
  double valid_fraction = 0.1;                 // held out of the training list when the dataset has no validation split
  double test_fraction = 0.1;                  // held out as well when it has no test split either (a folder walk)
  std::int64_t img_size = 128;                 // the network's input: img_size x img_size
  std::int64_t resize = 0;                     // shorter side before cropping; 0: img_size * 8 / 7
  bool no_augment = false;                     // training uses the evaluation transform (resize + centre crop)
  bool no_flip = false;                        // no random horizontal flip
  double rotation = 0;                         // random rotation in [-rotation, rotation] degrees
  double brightness = 0, contrast = 0, saturation = 0, hue = 0;  // colour jitter (torchvision ColorJitter)
  bool cache_images = false;                                     // keep decoded images in memory (small datasets)
  std::int64_t max_image_pixels = data::default_max_pixels;      // larger images are skipped (data/decode.h)
  // ---- model ----
  std::string arch = "resnet34";
  std::string pretrained;         // .safetensors or .pth; empty: random initialisation
  std::string mode = "finetune";  // feature-extraction | finetune | partial
  std::string trainable;          // partial: "layer4,fc"
  double dropout = -1;  // before the head; -1: the architecture's own (none for ResNet, 0.2 / 0.5 otherwise)
  std::string loss = "l1";        // l1 | mse | smooth-l1 | coral
  // ---- optimisation ----
  std::string optimizer = "adam";  // adam | adamw | sgd
  double lr = 1e-3;
  double momentum = 0.9;  // SGD
  double weight_decay = 0;
  std::string lr_scheduler = "step";  // step (constant with lr_step_size 0) | multistep | cosine
  std::int64_t lr_step_size = 0;      // step: decay every this many epochs; 0: constant rate
  std::string lr_milestones;          // multistep: "10,20" (epochs)
  double lr_gamma = 0.1;              // step, multistep: the decay factor
  std::int64_t warmup_epochs = 0;     // cosine: linear warm-up from lr / 3 over this many epochs
  double clip_grad_norm = 0;          // clip the gradients' global L2 norm to this before each step; 0: never
  double ema = 0;                     // decay of an exponential moving average of the weights; 0: none
  std::int64_t epochs = 20;
  std::int64_t batch_size = 32;
  std::int64_t max_steps = 0;  // stop after this many optimizer steps in all; 0: no limit
  bool no_shuffle = false;
  // ---- the run ----
  std::int64_t workers = 2;  // loader threads
  std::string device = "cpu";
  bool deterministic = false;  // CUDA: deterministic algorithms only (tensor/determinism.h); the CPU always is
  std::int64_t seed = 0;
  std::string out;               // the run folder; empty: runs/<dataset>-<arch>-<date>-<time>
  double progress_seconds = 10;  // between progress lines when stdout is not a terminal
  // ---- data-parallel training (mpirun; dist/) ----
  bool sync_bn = false;       // batch-norm statistics over every process's part of the batch
  double dist_timeout = 600;  // seconds a collective may wait for the other processes before the job is aborted

  // The size images are resized to before cropping.
  std::int64_t resize_size() const { return resize > 0 ? resize : img_size * 8 / 7; }
};

// One setting: its name (the flag without "--", and the JSON key), what it means, and where it lives.
struct Setting {
  using Field =
      std::variant<std::string TrainConfig::*, double TrainConfig::*, std::int64_t TrainConfig::*, bool TrainConfig::*>;
  const char* name;
  Field field;
  const char* help;
};
const std::vector<Setting>& settings();

// The settings a resumed run may change (everything else must match OUT/config.json).
bool may_change_on_resume(const std::string& name);

// JSON <-> config. from_json starts from `base` and sets the keys present; an unknown key, or a value of the wrong
// type, is an edat::Error naming the key and `source` (a file name, for messages).
nlohmann::json to_json(const TrainConfig& config);
TrainConfig from_json(const nlohmann::json& json, const TrainConfig& base, const std::string& source);
TrainConfig load_config(const std::string& path, const TrainConfig& base = {});
void save_config(const std::string& path, const TrainConfig& config);  // atomic

// The setting's value as text ("0.001", "true", "layer4,fc"), for messages and the report.
std::string value_text(const TrainConfig& config, const Setting& setting);
bool same_value(const TrainConfig& a, const TrainConfig& b, const Setting& setting);
void copy_value(TrainConfig& to, const TrainConfig& from, const Setting& setting);

// Limits shared by the settings and by the metadata of weights files (train/objective.cpp), stated once.
inline constexpr std::int64_t min_img_size = 16, max_img_size = 4096, max_resize = 8192;
// The losses --loss accepts.
const std::vector<std::string>& losses();

// Checks every setting's value (names of datasets, architectures, losses ...; ranges); edat::Error naming the flag.
void validate(const TrainConfig& config);
// --lr-milestones as epochs; edat::Error naming a bad item.
std::vector<std::int64_t> lr_milestones(const TrainConfig& config);

// Adds one flag per setting to `app`, bound to `config`'s fields.
void add_to_cli(CLI::App& app, TrainConfig& config);

}  // namespace edat::train
