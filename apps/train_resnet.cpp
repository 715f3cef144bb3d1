// train_resnet: trains an age-estimation network (ResNet and the other backbones of models/backbone.h) on a face
// dataset, with validation each epoch, checkpoints, resume and a report at the end. See train/trainer.h for what a
// run writes, and configs/ for recipes.
//
//   train_resnet --dataset appa-real --data-root appa-real-release --arch resnet34 --pretrained resnet34.safetensors
//                --mode partial --trainable layer4,fc --loss l1 --epochs 20 --out runs/appa
//   train_resnet --config configs/original_appa_real_partial.json --data-root appa-real-release --out runs/appa
//   train_resnet --resume runs/appa [--epochs 30]        # continue a stopped (or finished) run
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

#include "data/loader.h"
#include "dist/communicator.h"
#include "models/backbone.h"
#include "tensor/error.h"
#include "train/config.h"
#include "train/trainer.h"

using namespace edat;

namespace {

std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

// The settings of this run: defaults < --config file < flags, or, with --resume, the run's config.json where
// flags may only change what may_change_on_resume allows.
train::TrainConfig resolve(const CLI::App& app, const train::TrainConfig& flags, const std::string& config_file,
                           const std::string& resume) {
  auto given = [&](const train::Setting& s) { return app.get_option(std::string("--") + s.name)->count() > 0; };
  train::TrainConfig config;
  if (!resume.empty()) {
    EDAT_CHECK(config_file.empty(), "--resume takes the settings of the run; do not give --config with it");
    EDAT_CHECK(std::filesystem::exists(resume + "/checkpoint.safetensors"),
               "--resume " << resume << ": no checkpoint.safetensors there to resume from");
    const std::string saved = resume + "/config.json";
    config = train::load_config(saved);
    for (const train::Setting& s : train::settings()) {
      if (!given(s)) continue;
      if (train::may_change_on_resume(s.name)) {
        train::copy_value(config, flags, s);
      } else if (!train::same_value(config, flags, s) && std::string(s.name) != "out") {
        std::string changeable;  // the list comes from may_change_on_resume itself, so it cannot go stale
        for (const train::Setting& other : train::settings())
          if (train::may_change_on_resume(other.name))
            changeable += (changeable.empty() ? "--" : ", --") + std::string(other.name);
        throw Error("--resume " + resume + ": --" + s.name + " " + train::value_text(flags, s) + " differs from " +
                    saved + " (" + train::value_text(config, s) + "); a resumed run may change only " + changeable);
      }
    }
    config.out = resume;
    return config;
  }
  if (!config_file.empty()) config = train::load_config(config_file);
  for (const train::Setting& s : train::settings())
    if (given(s)) train::copy_value(config, flags, s);
  return config;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Trains a network to estimate age from face images (regression or CORAL), with validation each epoch,\n"
      "checkpoints (resume with --resume), metrics.csv, TensorBoard scalars and a report in the run folder.\n"
      "Architectures: " +
      join(models::architectures()) +
      ". Settings can come from a JSON file (--config;\n"
      "its keys are these flags' names, e.g. {\"batch-size\": 64}); flags override it."};
  app.set_help_flag("-h,--help", "Print this help and exit");
  train::TrainConfig flags;
  train::add_to_cli(app, flags);
  std::string config_file, resume;
  app.add_option("--config", config_file, "JSON file of settings (keys: the flag names); flags override it");
  app.add_option("--resume", resume, "continue the run in this folder from its checkpoint, with its config.json");
  CLI11_PARSE(app, argc, argv);
  data::keep_freed_memory_for_reuse();  // the loader's images reuse freed memory (data/loader.h)

  try {
    const train::TrainConfig config = resolve(app, flags, config_file, resume);
    train::install_stop_handlers();
    train::Trainer trainer(config, !resume.empty());
    const train::RunResult result = trainer.run();
    if (result.status == train::RunStatus::interrupted) return 130;  // the shell's code for "stopped by a signal"
    return 0;
  } catch (const std::exception& e) {
    // Under mpirun the other processes may be waiting for this one in a collective: the error ends them all.
    if (dist::launcher_world_size() > 1) dist::world().abort(std::string("train_resnet: error: ") + e.what());
    std::fflush(stdout);
    std::fprintf(stderr, "train_resnet: error: %s\n", e.what());
    return 1;
  }
}
