// train/: settings (JSON, validation), the objective, checkpoints and the training loop. The runs train a ResNet-18
// at 32x32 on a tiny generated APPA-REAL-layout dataset, so each takes about a second.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/demo_faces.h"
#include "tensor/factory.h"
#include "tensor/determinism.h"
#include "test_util.h"
#include "train/config.h"
#include "train/objective.h"
#include "train/trainer.h"
#include "weights/safetensors.h"

namespace edat {
namespace {

namespace fs = std::filesystem;
using edat::testing::bit_identical;
using edat::testing::throws_with;
using train::TrainConfig;

// A fresh folder under the test's temporary directory.
fs::path temp_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("edat_test_train_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

const fs::path& demo_root() {
  static const fs::path root = [] {
    const fs::path dir = temp_dir("demo");
    data::DemoFacesOptions options;
    options.out = dir.string();
    options.count = 60;  // 36 train, 12 valid, 12 test
    options.size = 48;
    options.full_images = false;
    data::write_demo_faces(options);
    return dir;
  }();
  return root;
}

TrainConfig tiny_config(const std::string& run) {
  TrainConfig c;
  c.dataset = "appa-real";
  c.data_root = demo_root().string();
  c.arch = "resnet18";
  c.img_size = 32;
  c.resize = 36;
  c.epochs = 2;
  c.batch_size = 8;
  c.workers = 2;
  c.dropout = 0.2;  // its masks must continue exactly after a resume
  c.rotation = 5;
  c.brightness = 0.2;
  c.progress_seconds = 1e6;
  c.out = temp_dir(run).string();
  fs::remove_all(c.out);
  return c;
}

weights::NamedTensors final_weights(const TrainConfig& c) {
  return weights::read_safetensors((fs::path(c.out) / "final.safetensors").string());
}

::testing::AssertionResult same_weights(const weights::NamedTensors& a, const weights::NamedTensors& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << a.size() << " vs " << b.size() << " tensors";
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first) return ::testing::AssertionFailure() << a[i].first << " vs " << b[i].first;
    auto same = bit_identical(a[i].second, b[i].second);
    if (!same) return same << " in " << a[i].first;
  }
  return ::testing::AssertionSuccess();
}

TEST(TrainConfig, JsonRoundTripAndUnknownKeys) {
  TrainConfig c;
  c.lr = 3e-4;
  c.trainable = "layer4,fc";
  c.no_flip = true;
  c.epochs = 7;
  const TrainConfig back = train::from_json(train::to_json(c), {}, "test");
  for (const train::Setting& s : train::settings()) EXPECT_TRUE(train::same_value(c, back, s)) << s.name;
  EXPECT_TRUE(throws_with(
      [] {
        train::from_json({{"batch_size", 3}}, {}, "recipe.json");
      },
      {"recipe.json", "unknown setting 'batch_size'", "batch-size"}));
  EXPECT_TRUE(throws_with(
      [] {
        train::from_json({{"epochs", "ten"}}, {}, "r.json");
      },
      {"r.json", "'epochs'", "an integer"}));
  EXPECT_TRUE(throws_with([] { train::from_json({{"lr", true}}, {}, "r.json"); }, {"'lr'", "a number"}));
}

// Every recipe in configs/ reads and validates (given a data root, which recipes leave to the command line).
TEST(TrainConfig, RecipesAreValid) {
  int recipes = 0;
  for (const auto& entry : fs::directory_iterator(EDAT_CONFIGS_DIR)) {
    if (entry.path().extension() != ".json") continue;
    TrainConfig c = train::load_config(entry.path().string());
    EXPECT_TRUE(c.data_root.empty()) << entry.path() << " must not hold a data path";
    c.data_root = "somewhere";
    if (c.dataset == "csv") c.train_csv = "train.csv";
    EXPECT_NO_THROW(train::validate(c)) << entry.path();
    ++recipes;
  }
  EXPECT_GE(recipes, 7);
}

TEST(TrainConfig, ValidationNamesTheFlag) {
  TrainConfig c;
  c.data_root = "somewhere";
  train::validate(c);
  auto with = [&](auto change) {
    TrainConfig bad = c;
    change(bad);
    return [bad] { train::validate(bad); };
  };
  EXPECT_TRUE(throws_with(with([](TrainConfig& x) { x.dataset = "imagenet"; }), {"--dataset", "imagenet", "cacd"}));
  EXPECT_TRUE(throws_with(with([](TrainConfig& x) { x.arch = "resnet35"; }), {"--arch", "resnet35", "resnet34"}));
  EXPECT_TRUE(throws_with(with([](TrainConfig& x) { x.loss = "l3"; }), {"--loss", "coral"}));
  EXPECT_TRUE(throws_with(with([](TrainConfig& x) { x.data_root.clear(); }), {"--data-root"}));
  EXPECT_TRUE(throws_with(with([](TrainConfig& x) { x.mode = "partial"; }), {"--trainable"}));
  EXPECT_TRUE(throws_with(with([](TrainConfig& x) { x.lr = -1; }), {"--lr"}));
  EXPECT_TRUE(throws_with(with([](TrainConfig& x) { x.img_size = 8; }), {"--img-size"}));
  EXPECT_TRUE(throws_with(with([](TrainConfig& x) { x.dataset = "csv"; }), {"--train-csv"}));
}

TEST(AgeObjective, RegressionAndCoral) {
  const Tensor ages = from_vector({20, 30}, {2});
  train::AgeObjective l1({.arch = "resnet18", .loss = "l1"});
  EXPECT_NEAR(l1.loss(from_vector({22, 27}, {2, 1}), ages).item(), 2.5, 1e-6);
  EXPECT_EQ(l1.predict(from_vector({22, 27}, {2, 1})), (std::vector<double>{22, 27}));
  train::AgeObjective coral({.arch = "resnet18", .loss = "coral", .coral_min_age = 18, .coral_classes = 5});
  // Logits of "age > 18 + k" for k = 0..3: the first row says yes, yes, no, no -> 18 + 2.
  const Tensor logits = from_vector({5, 5, -5, -5, 5, 5, 5, 5}, {2, 4});
  EXPECT_EQ(coral.predict(logits), (std::vector<double>{20, 22}));
  // Ages beyond the range are clamped to its ends instead of failing (label 4 for 30).
  EXPECT_TRUE(std::isfinite(coral.loss(logits, ages).item()));
  // The description travels in weights metadata.
  train::ModelDescription back;
  ASSERT_TRUE(train::ModelDescription::from_metadata(coral.description().metadata(), back, "m"));
  EXPECT_EQ(back.coral_classes, 5);
  EXPECT_EQ(back.coral_min_age, 18);
  EXPECT_FALSE(train::ModelDescription::from_metadata({}, back, "m"));
  // The loss name is parsed once, when the objective is made: an unknown one fails there, not at the first step.
  EXPECT_TRUE(throws_with([] { (void)train::AgeObjective(train::ModelDescription{.loss = "huber"}); },
                          {"unknown loss 'huber'", "smooth-l1"}));
}

TEST(Trainer, WritesTheRunFolder) {
  TrainConfig c = tiny_config("run");
  train::Trainer trainer(c, false);
  const train::RunResult result = trainer.run();
  EXPECT_EQ(result.status, train::RunStatus::completed);
  for (const char* file : {"config.json", "metrics.csv", "train.log", "checkpoint.safetensors", "best.safetensors",
                           "final.safetensors", "results.json", "predictions.csv", "report.html"}) {
    EXPECT_TRUE(fs::exists(fs::path(c.out) / file)) << file;
  }
  int event_files = 0;
  for (const auto& entry : fs::directory_iterator(c.out))
    event_files += entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  EXPECT_EQ(event_files, 1);
  std::ifstream metrics(fs::path(c.out) / "metrics.csv");
  std::string line;
  int lines = 0;
  while (std::getline(metrics, line)) ++lines;
  EXPECT_EQ(lines, 3);  // header + 2 epochs
  ASSERT_TRUE(result.test.has_value());
  EXPECT_EQ(result.test->truth.size(), 12u);
  EXPECT_EQ(result.progress.step, 10);  // 2 epochs of ceil(36 / 8) = 5 batches
  // The resolved settings read back as the same configuration.
  const TrainConfig saved = train::load_config((fs::path(c.out) / "config.json").string());
  for (const train::Setting& s : train::settings()) EXPECT_TRUE(train::same_value(c, saved, s)) << s.name;
  // A second run into the same folder is refused (it would overwrite the first).
  EXPECT_TRUE(throws_with([&] { train::Trainer again(c, false); }, {"already holds a run", "--resume"}));
}

// Stopped by --max-steps mid-epoch (step 3 of 5) and at an epoch's end (step 5), then resumed: the final weights
// equal an uninterrupted run's bit for bit.
TEST(Trainer, ResumeAfterMaxStepsIsBitIdentical) {
  TrainConfig whole = tiny_config("whole");
  train::Trainer(whole, false).run();
  for (std::int64_t stop_at : {3, 5}) {
    TrainConfig part = tiny_config("part" + std::to_string(stop_at));
    part.max_steps = stop_at;
    const auto stopped = train::Trainer(part, false).run();
    EXPECT_EQ(stopped.status, train::RunStatus::max_steps);
    EXPECT_EQ(stopped.progress.step, stop_at);
    EXPECT_TRUE(fs::exists(fs::path(part.out) / "final.safetensors"));  // written after --max-steps too
    part.max_steps = 0;
    const auto resumed = train::Trainer(part, true).run();
    EXPECT_EQ(resumed.status, train::RunStatus::completed);
    EXPECT_TRUE(same_weights(final_weights(part), final_weights(whole))) << "stopped at step " << stop_at;
    EXPECT_EQ(resumed.progress.history.size(), 2u);
  }
}

// On CUDA with --deterministic (tensor/determinism.h), two runs of the same command give the same weights bit for
// bit, and so does a run stopped by --max-steps and resumed. (Without it cuDNN's backward algorithms and max-pool
// backward add with atomics, and neither holds: docs/ARCHITECTURE.md.)
TEST(TrainerCuda, DeterministicRunsAndResumeAreBitIdentical) {
  EDAT_REQUIRE_CUDA();
  auto on_cuda = [](const std::string& run) {
    TrainConfig c = tiny_config(run);
    c.device = "cuda";
    c.deterministic = true;
    return c;
  };
  const TrainConfig first = on_cuda("cuda_first"), second = on_cuda("cuda_second");
  train::Trainer(first, false).run();
  train::Trainer(second, false).run();
  EXPECT_TRUE(same_weights(final_weights(second), final_weights(first))) << "two runs";
  TrainConfig part = on_cuda("cuda_part");
  part.max_steps = 3;
  EXPECT_EQ(train::Trainer(part, false).run().status, train::RunStatus::max_steps);
  part.max_steps = 0;
  EXPECT_EQ(train::Trainer(part, true).run().status, train::RunStatus::completed);
  EXPECT_TRUE(same_weights(final_weights(part), final_weights(first))) << "stopped at step 3 and resumed";
  edat::set_deterministic(false);  // the trainer set it for the process
}

// SIGINT arrives: the step in progress finishes, a checkpoint is written, and resuming ends where an uninterrupted
// run ends.
TEST(Trainer, SigintStopsAfterTheStepAndResumes) {
  TrainConfig whole = tiny_config("whole_sigint");
  whole.epochs = 1;
  train::Trainer(whole, false).run();
  TrainConfig part = tiny_config("sigint");
  part.epochs = 1;
  train::install_stop_handlers();
  std::raise(SIGINT);  // handled: sets the stop flag, the process goes on
  const auto stopped = train::Trainer(part, false).run();
  train::clear_stop_request();
  std::signal(SIGINT, SIG_DFL);
  EXPECT_EQ(stopped.status, train::RunStatus::interrupted);
  EXPECT_EQ(stopped.progress.step, 1);
  const auto resumed = train::Trainer(part, true).run();
  EXPECT_EQ(resumed.status, train::RunStatus::completed);
  EXPECT_TRUE(same_weights(final_weights(part), final_weights(whole)));
}

TEST(Trainer, NanLossStopsWithAMessageAndKeepsTheCheckpoint) {
  TrainConfig c = tiny_config("nan");
  c.optimizer = "sgd";
  c.loss = "mse";
  c.lr = 1e30;  // the first update blows the weights up; the next loss overflows
  EXPECT_TRUE(
      throws_with([&] { train::Trainer(c, false).run(); }, {"training loss is", "last good checkpoint", "--lr"}));
}

TEST(Trainer, BadInputIsAClearError) {
  TrainConfig c = tiny_config("bad");
  c.data_root = "/nonexistent/edat";
  EXPECT_TRUE(throws_with([&] { train::Trainer(c, false); }, {"/nonexistent/edat"}));
  c = tiny_config("bad_resume");
  EXPECT_TRUE(throws_with([&] { train::Trainer(c, true); }, {"no checkpoint.safetensors"}));
  c = tiny_config("bad_weights");
  const fs::path other = fs::path(c.out).parent_path() / "other_arch.safetensors";
  Generator generator(0);
  train::save_weights(other.string(), *train::build_model({.arch = "resnet34"}, generator), {.arch = "resnet34"});
  c.pretrained = other.string();
  EXPECT_TRUE(throws_with([&] { train::Trainer(c, false); }, {"other_arch.safetensors"}));
}

}  // namespace
}  // namespace edat
