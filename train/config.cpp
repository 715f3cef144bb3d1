#include "train/config.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/datasets.h"
#include "models/backbone.h"
#include "tensor/error.h"
#include "weights/file_io.h"
#include "weights/json_brief.h"

namespace edat::train {

using C = TrainConfig;

const std::vector<Setting>& settings() {
  static const std::vector<Setting> table = {
      {"dataset", &C::dataset, "appa-real, cacd, afad, utkface or csv (path,age rows)"},
      {"data-root", &C::data_root, "the dataset's folder (image paths in CSVs are relative to it)"},
      {"train-csv", &C::train_csv, "training label file, instead of the dataset's own layout"},
      {"valid-csv", &C::valid_csv, "validation label file (default: the dataset's, else held out of training)"},
      {"test-csv", &C::test_csv, "test label file (default: the dataset's, else held out when walking folders)"},
      {"target", &C::target, "APPA-REAL's target: apparent or real age"},
      {"valid-fraction", &C::valid_fraction, "share of the training list held out for validation when needed"},
      {"test-fraction", &C::test_fraction, "share held out for testing when the dataset has no test split (a folder "
                                           "walk; with --train-csv give --test-csv, or there is no test split)"},
      {"img-size", &C::img_size, "network input size in pixels (square)"},
      {"resize", &C::resize, "shorter side before cropping (0: img-size * 8/7)"},
      {"no-augment", &C::no_augment, "train on the evaluation transform: resize + centre crop + normalise"},
      {"no-flip", &C::no_flip, "no random horizontal flip"},
      {"rotation", &C::rotation, "random rotation range in degrees (0: none)"},
      {"brightness", &C::brightness, "colour jitter: brightness factor range 1 +- this"},
      {"contrast", &C::contrast, "colour jitter: contrast factor range 1 +- this"},
      {"saturation", &C::saturation, "colour jitter: saturation factor range 1 +- this"},
      {"hue", &C::hue, "colour jitter: hue shift range +- this (at most 0.5)"},
      {"cache-images", &C::cache_images, "keep decoded images in memory (small datasets)"},
      {"max-image-pixels", &C::max_image_pixels, "images with more pixels are skipped as unreadable (JPEGs first "
                                                 "decode smaller to fit)"},
      {"arch", &C::arch, "network architecture"},
      {"pretrained", &C::pretrained, "initial weights: .safetensors or torchvision .pth (head skipped if it differs)"},
      {"mode", &C::mode, "feature-extraction (head only), finetune (all) or partial (--trainable parts)"},
      {"trainable", &C::trainable, "partial mode: the parts that train, e.g. layer4,fc"},
      {"dropout", &C::dropout,
       "dropout probability before the head (-1: the architecture's own: none for ResNet, 0.2 for MobileNetV2, "
       "0.5 for VGG)"},
      {"loss", &C::loss, "l1, mse, smooth-l1 or coral (ordinal regression over the training ages)"},
      {"optimizer", &C::optimizer, "adam, adamw or sgd"},
      {"lr", &C::lr, "learning rate"},
      {"momentum", &C::momentum, "SGD momentum"},
      {"weight-decay", &C::weight_decay, "weight decay (L2 for adam/sgd, decoupled for adamw)"},
      {"lr-scheduler", &C::lr_scheduler,
       "learning-rate schedule: step (every --lr-step-size epochs), multistep (at --lr-milestones) or cosine "
       "(annealed to 0 over --epochs, after --warmup-epochs)"},
      {"lr-step-size", &C::lr_step_size, "step: multiply the learning rate by --lr-gamma every this many epochs (0: never)"},
      {"lr-milestones", &C::lr_milestones, "multistep: epochs at which to multiply the rate by --lr-gamma, e.g. 10,20"},
      {"lr-gamma", &C::lr_gamma, "learning-rate decay factor"},
      {"warmup-epochs", &C::warmup_epochs, "cosine: linear warm-up from a third of --lr over this many epochs"},
      {"clip-grad-norm", &C::clip_grad_norm, "clip the gradients' global L2 norm to this before each step (0: never)"},
      {"ema", &C::ema,
       "keep an exponential moving average of the weights with this decay (e.g. 0.999; 0: none), validate it each "
       "epoch beside the weights, and save it as best.safetensors when it is better"},
      {"epochs", &C::epochs, "epochs to train"},
      {"batch-size", &C::batch_size, "images per optimizer step"},
      {"max-steps", &C::max_steps, "stop after this many optimizer steps in all (0: no limit)"},
      {"no-shuffle", &C::no_shuffle, "keep the dataset order in every epoch"},
      {"workers", &C::workers, "image loading threads"},
      {"device", &C::device, "cpu or cuda"},
      {"deterministic", &C::deterministic,
       "on CUDA, only deterministic algorithms (cuDNN's deterministic convolutions, a gathering max-pool "
       "backward), so that two runs give the same bits; the CPU always does (also: EDAT_DETERMINISTIC=1)"},
      {"seed", &C::seed, "seed of initialisation, shuffling, augmentation, dropout and splits"},
      {"out", &C::out, "run folder (default: runs/DATASET-ARCH-DATE-TIME)"},
      {"progress-seconds", &C::progress_seconds, "seconds between progress lines when stdout is not a terminal"},
      {"sync-bn", &C::sync_bn,
       "under mpirun: batch norm takes its statistics over every process's part of the batch (default: each its own, "
       "as PyTorch's DDP)"},
      {"dist-timeout", &C::dist_timeout,
       "under mpirun: seconds a process waits for the others in a collective before aborting the job (a process "
       "died or hangs)"},
  };
  return table;
}

bool may_change_on_resume(const std::string& name) {
  return name == "epochs" || name == "max-steps" || name == "workers" || name == "progress-seconds" ||
         name == "dist-timeout";
}

nlohmann::json to_json(const TrainConfig& config) {
  nlohmann::json json = nlohmann::json::object();
  for (const Setting& s : settings()) {
    std::visit([&](auto member) { json[s.name] = config.*member; }, s.field);
  }
  return json;
}

namespace {

template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, std::string>) return "a string";
  if constexpr (std::is_same_v<T, double>) return "a number";
  if constexpr (std::is_same_v<T, std::int64_t>) return "an integer";
  if constexpr (std::is_same_v<T, bool>) return "true or false";
}

template <class T>
bool json_has_type(const nlohmann::json& value) {
  if constexpr (std::is_same_v<T, std::string>) return value.is_string();
  if constexpr (std::is_same_v<T, double>) return value.is_number();
  if constexpr (std::is_same_v<T, std::int64_t>) return value.is_number_integer();
  if constexpr (std::is_same_v<T, bool>) return value.is_boolean();
}

const Setting* find_setting(const std::string& name) {
  for (const Setting& s : settings())
    if (name == s.name) return &s;
  return nullptr;
}

}  // namespace

TrainConfig from_json(const nlohmann::json& json, const TrainConfig& base, const std::string& source) {
  EDAT_CHECK(json.is_object(), source << ": a configuration must be a JSON object of settings");
  TrainConfig config = base;
  for (const auto& [key, value] : json.items()) {
    const Setting* setting = find_setting(key);
    if (setting == nullptr) {
      std::string known;
      for (const Setting& s : settings()) known += (known.empty() ? "" : ", ") + std::string(s.name);
      throw Error(source + ": unknown setting '" + key + "' (the settings are: " + known + ")");
    }
    std::visit(
        [&](auto member) {
          using T = std::remove_reference_t<decltype(config.*member)>;
          EDAT_CHECK(json_has_type<T>(value),
                     source << ": setting '" << key << "' must be " << type_name<T>() << ", not " << weights::json_brief(value));
          config.*member = value.get<T>();
        },
        setting->field);
  }
  return config;
}

TrainConfig load_config(const std::string& path, const TrainConfig& base) {
  std::ifstream in(path);
  EDAT_CHECK(in, "cannot open the configuration file '" << path << "'");
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
  return from_json(json, base, path);
}

void save_config(const std::string& path, const TrainConfig& config) {
  const std::string text = to_json(config).dump(2) + "\n";
  weights::write_file_atomically(path,
                                 [&](std::FILE* file) { weights::write_bytes(file, text.data(), text.size(), path); });
}

std::string value_text(const TrainConfig& config, const Setting& setting) {
  return std::visit(
      [&](auto member) -> std::string {
        using T = std::remove_reference_t<decltype(config.*member)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return config.*member;
        } else if constexpr (std::is_same_v<T, bool>) {
          return config.*member ? "true" : "false";
        } else {
          std::ostringstream out;
          out << config.*member;
          return out.str();
        }
      },
      setting.field);
}

bool same_value(const TrainConfig& a, const TrainConfig& b, const Setting& setting) {
  return std::visit([&](auto member) { return a.*member == b.*member; }, setting.field);
}

void copy_value(TrainConfig& to, const TrainConfig& from, const Setting& setting) {
  std::visit([&](auto member) { to.*member = from.*member; }, setting.field);
}

namespace {

void check_one_of(const std::string& flag, const std::string& value, const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  throw Error("--" + flag + ": unknown value '" + value + "' (expected one of: " + list + ")");
}

}  // namespace

const std::vector<std::string>& losses() {
  static const std::vector<std::string> names = {"l1", "mse", "smooth-l1", "coral"};
  return names;
}

std::vector<std::int64_t> lr_milestones(const TrainConfig& config) {
  std::vector<std::int64_t> epochs;
  std::stringstream in(config.lr_milestones);
  for (std::string item; std::getline(in, item, ',');) {
    std::size_t used = 0;
    long long epoch = -1;
    try {
      epoch = std::stoll(item, &used);
    } catch (const std::exception&) {
    }
    EDAT_CHECK(used == item.size() && epoch > 0,
               "--lr-milestones: '" << item << "' is not a positive epoch (expected e.g. 10,20)");
    epochs.push_back(epoch);
  }
  return epochs;
}

void validate(const TrainConfig& c) {
  check_one_of("dataset", c.dataset, data::dataset_kinds());
  check_one_of("arch", c.arch, models::architectures());
  check_one_of("target", c.target, {"apparent", "real"});
  check_one_of("mode", c.mode, {"feature-extraction", "finetune", "partial"});
  check_one_of("loss", c.loss, losses());
  check_one_of("optimizer", c.optimizer, {"adam", "adamw", "sgd"});
  check_one_of("device", c.device, {"cpu", "cuda"});
  EDAT_CHECK(!c.data_root.empty(), "--data-root is required: the folder of the dataset's images");
  EDAT_CHECK(c.dataset != "csv" || !c.train_csv.empty(), "--dataset csv needs --train-csv (path,age rows)");
  EDAT_CHECK(c.mode != "partial" || !c.trainable.empty(),
             "--mode partial needs --trainable, the parts that train (e.g. layer4,fc)");
  EDAT_CHECK(c.mode == "partial" || c.trainable.empty(), "--trainable applies to --mode partial only");
  auto in_range = [](const char* flag, double value, double low, double high) {
    EDAT_CHECK(std::isfinite(value) && value >= low && value <= high,
               "--" << flag << " " << value << " is out of range [" << low << ", " << high << "]");
  };
  in_range("valid-fraction", c.valid_fraction, 0, 0.9);
  in_range("test-fraction", c.test_fraction, 0, 0.9);
  in_range("img-size", static_cast<double>(c.img_size), min_img_size, max_img_size);
  in_range("resize", static_cast<double>(c.resize), 0, max_resize);
  in_range("max-image-pixels", static_cast<double>(c.max_image_pixels), 1, 1e10);
  EDAT_CHECK(c.resize == 0 || c.resize >= c.img_size,
             "--resize " << c.resize << " is smaller than --img-size " << c.img_size);
  in_range("rotation", c.rotation, 0, 180);
  in_range("brightness", c.brightness, 0, 1);
  in_range("contrast", c.contrast, 0, 1);
  in_range("saturation", c.saturation, 0, 1);
  in_range("hue", c.hue, 0, 0.5);
  if (c.dropout != -1) in_range("dropout", c.dropout, 0, 0.99);
  EDAT_CHECK(std::isfinite(c.lr) && c.lr > 0, "--lr must be positive, got " << c.lr);
  in_range("momentum", c.momentum, 0, 0.999);
  in_range("weight-decay", c.weight_decay, 0, 1);
  in_range("lr-step-size", static_cast<double>(c.lr_step_size), 0, 1e9);
  in_range("lr-gamma", c.lr_gamma, 1e-9, 1);
  check_one_of("lr-scheduler", c.lr_scheduler, {"step", "multistep", "cosine"});
  EDAT_CHECK(c.lr_scheduler == "multistep" || c.lr_milestones.empty(), "--lr-milestones is for --lr-scheduler multistep");
  EDAT_CHECK(c.lr_scheduler != "multistep" || !lr_milestones(c).empty(),
             "--lr-scheduler multistep needs --lr-milestones, e.g. 10,20");
  EDAT_CHECK(c.lr_scheduler == "cosine" || c.warmup_epochs == 0, "--warmup-epochs is for --lr-scheduler cosine");
  EDAT_CHECK(c.warmup_epochs >= 0 && c.warmup_epochs < c.epochs,
             "--warmup-epochs " << c.warmup_epochs << " must be at least 0 and below --epochs " << c.epochs);
  in_range("clip-grad-norm", c.clip_grad_norm, 0, 1e12);
  EDAT_CHECK(c.ema == 0 || (c.ema > 0 && c.ema < 1), "--ema: the decay must be 0 (none) or in (0, 1), got " << c.ema);
  in_range("epochs", static_cast<double>(c.epochs), 1, 1e6);
  in_range("dist-timeout", c.dist_timeout, 1, 1e7);
  in_range("batch-size", static_cast<double>(c.batch_size), 1, 1e6);
  in_range("max-steps", static_cast<double>(c.max_steps), 0, 1e12);
  in_range("workers", static_cast<double>(c.workers), 0, 256);
  in_range("progress-seconds", c.progress_seconds, 0, 1e6);
}

void add_to_cli(CLI::App& app, TrainConfig& config) {
  for (const Setting& s : settings()) {
    const std::string flag = std::string("--") + s.name;
    std::visit(
        [&](auto member) {
          using T = std::remove_reference_t<decltype(config.*member)>;
          if constexpr (std::is_same_v<T, bool>) {
            app.add_flag(flag, config.*member, s.help);
          } else {
            // The last of repeated flags wins, so a command can be extended with overrides.
            app.add_option(flag, config.*member, s.help)
                ->capture_default_str()
                ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
          }
        },
        s.field);
  }
}

}  // namespace edat::train
