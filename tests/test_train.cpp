// train/: settings (JSON, validation), the objective, checkpoints and the training loop. The runs train a ResNet-18
// at 32x32 on a tiny generated APPA-REAL-layout dataset, so each takes about a second.
#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <tuple>
#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "data/demo_faces.h"
#include "data/face_crop_record.h"
#include "layers/init_mode.h"
#include "models/backbone.h"
#include "tensor/factory.h"
#include "tensor/determinism.h"
#include "tests/tensorboard_reader.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/evaluate.h"
#include "train/objective.h"
#include "train/trainer.h"
#include "train/weight_average.h"
#include "weights/safetensors.h"

namespace edat {
namespace {

namespace fs = std::filesystem;
using edat::testing::all_close;
using edat::testing::bit_identical;
using edat::testing::throws_with;
using train::TrainConfig;

// This process's temporary directory: its runs' weights and checkpoints (hundreds of MB) are removed when every
// test of the process passed, kept for inspection otherwise.
fs::path process_temp_dir() { return fs::temp_directory_path() / ("edat_test_train_" + std::to_string(::getpid())); }
struct RemoveTempDirWhenPassed : ::testing::Environment {
  void TearDown() override {
    if (::testing::UnitTest::GetInstance()->Passed()) fs::remove_all(process_temp_dir());
  }
};
const auto* const remove_temp_dir = ::testing::AddGlobalTestEnvironment(new RemoveTempDirWhenPassed);

// A fresh folder under the test's temporary directory.
fs::path temp_dir(const std::string& name) {
  const fs::path dir = process_temp_dir() / name;
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

TEST(TrainConfig, DeeplyNestedValueIsDescribedNotDumped) {
  // 200,000 nested arrays where a number belongs: dump() would recurse that deep to print it.
  const fs::path file = temp_dir("deep_config") / "deep.json";
  std::ofstream(file) << "{\"epochs\": " << std::string(200'000, '[') << std::string(200'000, ']') << "}";
  EXPECT_TRUE(throws_with([&] { train::load_config(file.string()); },
                          {"deep.json", "setting 'epochs' must be", "not an array of 1"}));
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
  EXPECT_TRUE(throws_with(with([](TrainConfig& x) { x.lr_scheduler = "exp"; }), {"--lr-scheduler", "exp", "cosine"}));
  EXPECT_TRUE(throws_with(with([](TrainConfig& x) { x.lr_scheduler = "multistep"; }), {"--lr-milestones"}));
  EXPECT_TRUE(throws_with(with([](TrainConfig& x) { x.lr_scheduler = "multistep", x.lr_milestones = "5,x"; }),
                          {"--lr-milestones", "'x'"}));
  EXPECT_TRUE(throws_with(with([](TrainConfig& x) { x.lr_milestones = "5"; }), {"--lr-milestones", "multistep"}));
  EXPECT_TRUE(throws_with(with([](TrainConfig& x) { x.warmup_epochs = 2; }), {"--warmup-epochs", "cosine"}));
  EXPECT_TRUE(throws_with(with([](TrainConfig& x) { x.lr_scheduler = "cosine", x.warmup_epochs = 20; }),
                          {"--warmup-epochs 20", "--epochs 20"}));
  EXPECT_TRUE(throws_with(with([](TrainConfig& x) { x.clip_grad_norm = -1; }), {"--clip-grad-norm"}));
  for (double decay : {-0.5, 1.0, 2.0, std::nan("")})
    EXPECT_TRUE(throws_with(with([decay](TrainConfig& x) { x.ema = decay; }), {"--ema", "(0, 1)"})) << decay;
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

TEST(AgeObjective, MetadataFromAFileIsValidatedFieldByField) {
  // Values a probe wrote into weights files: each once crashed or misled predict_age (division by zero, an age of
  // 9.2e18, an unknown loss trained as l1, a resize below the crop, bad_alloc).
  const std::map<std::string, std::string> good = {{"edat.arch", "resnet18"},       {"edat.loss", "coral"},
                                                   {"edat.img_size", "32"},         {"edat.resize", "36"},
                                                   {"edat.coral_min_age", "18"},    {"edat.coral_classes", "5"}};
  train::ModelDescription d;
  ASSERT_TRUE(train::ModelDescription::from_metadata(good, d, "w.safetensors"));
  const std::vector<std::tuple<std::string, std::string, std::string>> bad = {
      {"edat.img_size", "0", "edat.img_size = 0 is out of range [16, 4096]"},
      {"edat.img_size", "100000", "edat.img_size = 100000 is out of range"},
      {"edat.img_size", "12abc", "edat.img_size = '12abc' is not an integer"},
      {"edat.resize", "20", "edat.resize = 20 is out of range [32, 8192]"},
      {"edat.loss", "hinge", "edat.loss = 'hinge' is not one of l1, mse, smooth-l1, coral"},
      {"edat.arch", "resnet1000", "edat.arch = 'resnet1000' is not one of"},
      {"edat.coral_min_age", "9223372036854775807", "edat.coral_min_age = 9223372036854775807 is out of range"},
      {"edat.coral_min_age", "-5", "edat.coral_min_age = -5 is out of range"},
      {"edat.coral_classes", "1", "edat.coral_classes = 1 is out of range [2, 183]"},
      {"edat.coral_classes", "500", "edat.coral_classes = 500 is out of range"},
  };
  for (const auto& [key, value, message] : bad) {
    auto metadata = good;
    metadata[key] = value;
    EXPECT_TRUE(throws_with([&] { train::ModelDescription::from_metadata(metadata, d, "w.safetensors"); },
                            {"w.safetensors: metadata " + message}))
        << key << " = " << value;
  }
}

// Regression outputs are clamped into [0, the oldest training age] (edat.max_age); raw_ages keeps what the network
// said, for predict_age to report. Files without edat.max_age only clamp at 0.
TEST(AgeObjective, PredictionsAreClampedIntoTheModelsRange) {
  train::AgeObjective l1({.arch = "resnet18", .loss = "l1", .max_age = 60});
  const Tensor outputs = from_vector({-3, 27, 75}, {3, 1});
  EXPECT_EQ(l1.raw_ages(outputs), (std::vector<double>{-3, 27, 75}));
  EXPECT_EQ(l1.predict(outputs), (std::vector<double>{0, 27, 60}));
  train::AgeObjective unknown_max({.arch = "resnet18", .loss = "l1"});
  EXPECT_EQ(unknown_max.predict(outputs), (std::vector<double>{0, 27, 75}));
  train::ModelDescription back;
  ASSERT_TRUE(train::ModelDescription::from_metadata(l1.description().metadata(), back, "m"));
  EXPECT_EQ(back.max_age, 60);
  auto bad = l1.description().metadata();
  bad["edat.max_age"] = "sixty";
  EXPECT_TRUE(throws_with([&] { train::ModelDescription::from_metadata(bad, back, "m.safetensors"); },
                          {"m.safetensors", "edat.max_age", "sixty"}));
}

// --tta flip: each age is the mean of the network's answers for the image and for its mirror image.
TEST(TestTimeAugmentation, FlipAveragesTheImageAndItsMirror) {
  const Tensor x = from_vector({1, 2, 3, 4, 5, 6}, {1, 1, 2, 3});
  EXPECT_EQ(train::mirrored(x).to_vector<double>(), (std::vector<double>{3, 2, 1, 6, 5, 4}));
  const train::ModelDescription d{.arch = "resnet18", .loss = "l1", .img_size = 32, .resize = 36};
  Generator generator(4);
  auto model = train::build_model(d, generator);
  model->eval();
  const train::AgeObjective objective(d);
  const Tensor images = uniform({2, 3, 32, 32}, -1, 1, generator);
  const std::vector<double> plain = objective.raw_ages(model->forward(images));
  const std::vector<double> mirror = objective.raw_ages(model->forward(train::mirrored(images)));
  std::vector<double> ages = plain;
  train::average_with_mirror(*model, objective, images, ages);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_NEAR(ages[i], (plain[i] + mirror[i]) / 2, 1e-9);
    EXPECT_GT(std::abs(plain[i] - mirror[i]), 1e-6);  // a random network is not mirror-symmetric: the test can fail
  }
}

// How the training images were cropped: one line in crop_faces' face_crop.txt and in the weights (edat.face_crop).
TEST(FaceCropRecord, TextRoundTripsAndBadTextIsNamed) {
  using data::FaceCropRecord;
  for (const char* text : {"none", "box margin=0.4", "aligned padding=0.25"})
    EXPECT_EQ(FaceCropRecord::parse(text, "f").text(), text);
  EXPECT_EQ(FaceCropRecord::parse("box margin=0.4", "f").margin, 0.4);
  for (const char* bad : {"", "box", "box margin=", "box margin=-1", "aligned margin=0.2", "boxes margin=1",
                          "none extra", "box margin=0.4 more"})
    EXPECT_TRUE(throws_with([&] { FaceCropRecord::parse(bad, "w.safetensors"); }, {"w.safetensors", "face crop"}))
        << bad;
  const fs::path dir = temp_dir("face_crop_record");
  EXPECT_EQ(data::read_face_crop_record(dir).text(), "none");  // no file: used as they are
  data::write_face_crop_record(dir, FaceCropRecord::parse("aligned padding=0.2", "f"));
  EXPECT_EQ(data::read_face_crop_record(dir).text(), "aligned padding=0.2");
  // The weights carry it; a file without it reads as none.
  train::ModelDescription d{.arch = "resnet18", .face_crop = "box margin=0.3"}, back;
  ASSERT_TRUE(train::ModelDescription::from_metadata(d.metadata(), back, "m"));
  EXPECT_EQ(back.face_crop, "box margin=0.3");
  auto old = d.metadata();
  old.erase("edat.face_crop");
  ASSERT_TRUE(train::ModelDescription::from_metadata(old, back, "m"));
  EXPECT_EQ(back.face_crop, "none");
}

// load_age_model builds the network without drawing initial weights (they are all read from the file): the saved
// model's answers (up to the rounding of batch-norm folding, layers/fold.h), the generator untouched; an --img-size
// other than the trained one is a warning.
TEST(AgeModel, LoadsWithoutDrawingAndWarnsOnAnotherImgSize) {
  const train::ModelDescription d{.arch = "resnet18", .loss = "l1", .img_size = 32, .resize = 36, .max_age = 60};
  Generator generator(3);
  auto model = train::build_model(d, generator);
  model->eval();
  const fs::path file = temp_dir("age_model") / "best.safetensors";
  train::save_weights(file.string(), *model, d);
  const Tensor x = uniform({2, 3, 32, 32}, -1, 1, generator);
  const train::AgeModel loaded = train::load_age_model(file.string());
  EXPECT_TRUE(all_close(loaded.model->forward(x), model->forward(x), 1e-5, 1e-5));
  EXPECT_EQ(loaded.description.max_age, 60);
  EXPECT_TRUE(loaded.warnings.empty());
  const train::AgeModel resized = train::load_age_model(file.string(), "", 64);
  ASSERT_EQ(resized.warnings.size(), 1u);
  EXPECT_NE(resized.warnings[0].find("--img-size 64 differs from the 32 px"), std::string::npos) << resized.warnings[0];

  Generator untouched(5);
  {
    const nn::SkipInitGuard no_init;
    train::build_model(d, untouched);
  }
  EXPECT_EQ(untouched.offset(), 0u);
  train::build_model(d, untouched);  // the guard is gone: drawing again
  EXPECT_GT(untouched.offset(), 0u);
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
  std::vector<std::int64_t> csv_steps;  // metrics.csv's step column
  while (std::getline(metrics, line)) {
    if (++lines > 1) csv_steps.push_back(std::stoll(line.substr(line.find(',') + 1)));
  }
  EXPECT_EQ(lines, 3);  // header + 2 epochs
  // TensorBoard's scalars sit at the same global steps as metrics.csv's rows.
  std::vector<std::int64_t> event_steps;
  for (const auto& entry : fs::directory_iterator(c.out)) {
    if (entry.path().filename().string().rfind("events.out.tfevents.", 0) != 0) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::vector<std::string> records = edat::testing::read_records(bytes);
    for (std::size_t i = 1; i < records.size(); ++i) {  // record 0 is the file_version event
      const edat::testing::Scalar scalar = edat::testing::decode_scalar(records[i]);
      if (scalar.tag == "loss/train") event_steps.push_back(scalar.step);
    }
  }
  EXPECT_EQ(event_steps, csv_steps);
  EXPECT_EQ(csv_steps.size(), 2u);
  ASSERT_TRUE(result.test.has_value());
  EXPECT_EQ(result.test->truth.size(), 12u);
  EXPECT_EQ(result.progress.step, 10);  // 2 epochs of ceil(36 / 8) = 5 batches
  // The weights record the oldest training age, the top of the range predictions are clamped to.
  const auto best = weights::read_safetensors_with_metadata((fs::path(c.out) / "best.safetensors").string());
  EXPECT_TRUE(best.metadata.contains("edat.max_age"));
  // The resolved settings read back as the same configuration.
  const TrainConfig saved = train::load_config((fs::path(c.out) / "config.json").string());
  for (const train::Setting& s : train::settings()) EXPECT_TRUE(train::same_value(c, saved, s)) << s.name;
  // A second run into the same folder is refused (it would overwrite the first).
  EXPECT_TRUE(throws_with([&] { train::Trainer again(c, false); }, {"already holds a run", "--resume"}));
}

// --lr-scheduler: each epoch's learning rate (metrics.csv) is the schedule's (optim/schedules.h, checked against
// PyTorch in test_schedules).
TEST(Trainer, LearningRateSchedules) {
  for (const auto& [name, expected] : std::vector<std::pair<std::string, std::vector<double>>>{
           {"cosine", {1e-3 / 3, 1e-3, 0.5e-3}},  // warm-up epoch from lr / 3, then cosine over the 2 left
           {"multistep", {1e-3, 1e-4, 1e-4}}}) {
    TrainConfig c = tiny_config("schedule_" + name);
    c.epochs = 3;
    c.lr_scheduler = name;
    if (name == "cosine") c.warmup_epochs = 1;
    if (name == "multistep") c.lr_milestones = "1";
    const train::RunResult result = train::Trainer(c, false).run();
    ASSERT_EQ(result.progress.history.size(), 3u);
    for (std::size_t e = 0; e < 3; ++e) EXPECT_NEAR(result.progress.history[e].lr, expected[e], 1e-12) << name << e;
  }
}

// --clip-grad-norm: with the global gradient norm clipped to 1e-9, one plain SGD step moves the weights by at most
// lr * 1e-9, so learning rates 1 and 2 end at nearly the same weights; unclipped they do not.
TEST(Trainer, ClipGradNorm) {
  auto one_step = [](const std::string& run, double lr, double clip) {
    TrainConfig c = tiny_config(run);
    c.optimizer = "sgd", c.momentum = 0, c.lr = lr, c.clip_grad_norm = clip, c.max_steps = 1, c.dropout = 0;
    train::Trainer(c, false).run();
    return weights::read_safetensors((fs::path(c.out) / "last.safetensors").string());  // stopped by --max-steps
  };
  auto largest_difference = [](const weights::NamedTensors& a, const weights::NamedTensors& b) {
    double largest = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::vector<double> x = a[i].second.to_vector<double>(), y = b[i].second.to_vector<double>();
      for (std::size_t j = 0; j < x.size(); ++j) largest = std::max(largest, std::abs(x[j] - y[j]));
    }
    return largest;
  };
  EXPECT_LT(largest_difference(one_step("clip1", 1, 1e-9), one_step("clip2", 2, 1e-9)), 1e-6);
  EXPECT_GT(largest_difference(one_step("free1", 1, 0), one_step("free2", 2, 0)), 1e-3);
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
    // A stopped run's weights are its last, not its final ones.
    EXPECT_TRUE(fs::exists(fs::path(part.out) / "last.safetensors"));
    EXPECT_FALSE(fs::exists(fs::path(part.out) / "final.safetensors"));
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
  // The first loss is fine, the second not: one update was applied, and no checkpoint exists yet in epoch 1.
  EXPECT_TRUE(throws_with([&] { train::Trainer(c, false).run(); },
                          {"training loss is", "(step 2)", "diverged after 1 updates", "--lr than 1e+30",
                           "no checkpoint was written yet"}));
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int count_of(const std::string& text, const std::string& part) {
  int n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// 36 training images in batches of 5 leave a last batch of one; at 32x32 ResNet-18's layer4 maps are 1x1, so
// BatchNorm in training mode cannot normalise it. The run skips it, says so once, and finishes (resume too).
// --ema: the average follows average = decay * average + (1 - decay) * weights for every floating-point tensor
// (integer buffers are copied), and swap_with exchanges it with the model's weights (twice: back as they were).
TEST(WeightAverage, UpdateIsTheExponentialAverageAndSwapExchanges) {
  Generator gen(5);
  auto model = models::make_model("resnet18", 1, gen);
  const nn::NamedTensors start = model->state_dict();
  std::vector<Tensor> before;
  for (const auto& [name, tensor] : start) before.push_back(tensor.clone());
  train::WeightAverage average(*model, 0.75);
  {
    NoGradGuard no_grad;  // new weights: each float tensor + 1, num_batches_tracked + 3
    for (const auto& [name, tensor] : model->state_dict())
      tensor.copy_(is_floating(tensor.dtype()) ? tensor + 1.0 : full(tensor.shape(), 3.0, {.dtype = tensor.dtype()}));
  }
  average.update(*model);
  const nn::NamedTensors now = model->state_dict();
  for (std::size_t i = 0; i < now.size(); ++i) {
    const std::vector<double> avg = average.state()[i].second.to_vector<double>();
    const std::vector<double> old = before[i].to_vector<double>(), cur = now[i].second.to_vector<double>();
    const bool floating = is_floating(now[i].second.dtype());
    for (std::size_t j = 0; j < avg.size(); ++j)
      ASSERT_NEAR(avg[j], floating ? 0.75 * old[j] + 0.25 * cur[j] : cur[j], 1e-6) << now[i].first;
  }
  const std::vector<double> first_average = average.state()[0].second.to_vector<double>();
  const std::vector<double> first_weights = now[0].second.to_vector<double>();
  average.swap_with(*model);
  EXPECT_EQ(model->state_dict()[0].second.to_vector<double>(), first_average);
  EXPECT_EQ(average.state()[0].second.to_vector<double>(), first_weights);
  average.swap_with(*model);
  EXPECT_EQ(model->state_dict()[0].second.to_vector<double>(), first_weights);
  EXPECT_TRUE(throws_with([&] { train::WeightAverage(*model, 1.0); }, {"--ema", "(0, 1)"}));
}

// A run with --ema validates the average each epoch (metrics.csv's ema_valid_mae), keeps the better of the two as
// best, checkpoints the average and resumes it exactly: stopped mid-epoch and resumed, its final and best weights
// equal an uninterrupted run's bit for bit.
TEST(Trainer, WeightAverageIsValidatedCheckpointedAndResumedExactly) {
  TrainConfig whole = tiny_config("ema_whole");
  whole.ema = 0.5;
  const train::RunResult done = train::Trainer(whole, false).run();
  ASSERT_EQ(done.progress.history.size(), 2u);
  double best = 1e9;
  for (const train::EpochMetrics& m : done.progress.history) {
    EXPECT_GE(m.ema_valid_mae, 0) << "epoch " << m.epoch;
    best = std::min({best, m.valid_mae, m.ema_valid_mae});
  }
  EXPECT_EQ(done.progress.best_valid_mae, best);
  const std::string metrics = read_text(fs::path(whole.out) / "metrics.csv");
  EXPECT_NE(metrics.find(",ema_valid_mae\n"), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find(",\n"), std::string::npos) << "an empty ema_valid_mae with --ema: " << metrics;
  const auto checkpoint_of = [](const TrainConfig& c) {
    return weights::read_safetensors((fs::path(c.out) / "checkpoint.safetensors").string());
  };
  const auto checkpoint = checkpoint_of(whole);
  EXPECT_TRUE(std::any_of(checkpoint.begin(), checkpoint.end(), [](const auto& t) { return t.first.rfind("ema/", 0) == 0; }));

  TrainConfig part = tiny_config("ema_part");
  part.ema = 0.5;
  part.max_steps = 3;
  train::Trainer(part, false).run();
  part.max_steps = 0;
  train::Trainer(part, true).run();
  EXPECT_TRUE(same_weights(final_weights(part), final_weights(whole)));
  const auto best_of = [](const TrainConfig& c) {
    return weights::read_safetensors((fs::path(c.out) / "best.safetensors").string());
  };
  EXPECT_TRUE(same_weights(best_of(part), best_of(whole)));
  EXPECT_TRUE(same_weights(checkpoint_of(part), checkpoint_of(whole))) << "the averages (ema/...) differ";
  // A checkpoint with an average does not resume without --ema, and one without does not resume with it.
  TrainConfig plain = tiny_config("ema_plain");
  plain.max_steps = 2;
  train::Trainer(plain, false).run();
  plain.ema = 0.5;
  EXPECT_TRUE(throws_with([&] { train::Trainer(plain, true); }, {"checkpoint.safetensors", "no weight average"}));
}

TEST(Trainer, LastBatchOfOneImageIsSkippedOnce) {
  TrainConfig c = tiny_config("single");
  c.batch_size = 5;
  const auto result = train::Trainer(c, false).run();
  EXPECT_EQ(result.status, train::RunStatus::completed);
  EXPECT_EQ(result.progress.step, 14);  // 2 epochs of 7 batches of 5; the 8th (one image) skipped
  EXPECT_EQ(count_of(read_text(fs::path(c.out) / "train.log"), "a batch of one image"), 1);
}

TEST(Trainer, RunFolderIsLockedAgainstASecondRun) {
  TrainConfig c = tiny_config("locked");
  c.max_steps = 1;
  {
    train::Trainer first(c, false);
    EXPECT_TRUE(throws_with([&] { train::Trainer second(c, false); },
                            {"the run folder '" + c.out + "' is in use by another train_resnet (process " +
                             std::to_string(::getpid()) + ")"}));
    first.run();
  }
  train::Trainer resumed(c, true);  // the lock went with the first run
  EXPECT_TRUE(throws_with([&] { train::Trainer again(c, true); }, {"is in use by another train_resnet"}));
}

TEST(Trainer, StaleTemporaryFilesAreRemovedOnStartAndResume) {
  TrainConfig c = tiny_config("stale");
  c.max_steps = 1;
  fs::create_directories(c.out);
  const fs::path out(c.out);
  for (const char* name : {"checkpoint.safetensors.tmp-4242", "best.safetensors.tmp-7", "notes.tmp-mine"})
    std::ofstream(out / name) << "x";
  train::Trainer(c, false).run();
  EXPECT_FALSE(fs::exists(out / "checkpoint.safetensors.tmp-4242"));
  EXPECT_FALSE(fs::exists(out / "best.safetensors.tmp-7"));
  EXPECT_TRUE(fs::exists(out / "notes.tmp-mine"));  // not one of edat's
  std::ofstream(out / "checkpoint.safetensors.tmp-4243") << "x";
  train::Trainer resumed(c, true);
  EXPECT_FALSE(fs::exists(out / "checkpoint.safetensors.tmp-4243"));
  EXPECT_EQ(count_of(read_text(out / "train.log"), "removed 2 temporary file(s)"), 1);
}

// One flipped bit in the tensor data of a checkpoint or of weights edat wrote is found when they are read back.
TEST(Trainer, FlippedBytesAreFoundByTheChecksum) {
  TrainConfig c = tiny_config("checksum");
  c.max_steps = 2;
  train::Trainer(c, false).run();
  for (const char* name : {"checkpoint.safetensors", "best.safetensors"}) {
    const fs::path file = fs::path(c.out) / name;
    std::string bytes = read_text(file);
    bytes[bytes.size() - 5] ^= 0x10;  // inside the last tensor's data
    std::ofstream(file, std::ios::binary) << bytes;
  }
  EXPECT_TRUE(throws_with([&] { train::Trainer(c, true); },
                          {"checkpoint.safetensors", "do not match the checksum", "damaged after it was written"}));
  const std::string best = (fs::path(c.out) / "best.safetensors").string();
  EXPECT_TRUE(throws_with([&] { train::load_age_model(best); }, {best, "do not match the checksum"}));
  // Intact files read: the last weights load for evaluation.
  EXPECT_NO_THROW(train::load_age_model((fs::path(c.out) / "last.safetensors").string()));
}

// A run stopped by --max-steps 4, resumed with its saved settings: the reached limit is lifted (and said), instead
// of stopping again after one more step.
TEST(Trainer, ResumeAfterAReachedMaxStepsGoesOn) {
  TrainConfig c = tiny_config("max_again");
  c.max_steps = 4;
  EXPECT_EQ(train::Trainer(c, false).run().progress.step, 4);  // never a step past the limit
  const auto resumed = train::Trainer(c, true).run();
  EXPECT_EQ(resumed.status, train::RunStatus::completed);
  EXPECT_EQ(resumed.progress.step, 10);
  EXPECT_EQ(count_of(read_text(fs::path(c.out) / "train.log"), "--max-steps 4 was reached before"), 1);
}

// Stopped by --max-steps within its first epoch, a run still validates what it has: a metrics row, best weights,
// the test evaluation and the report, so short runs can be compared.
TEST(Trainer, MaxStepsInTheFirstEpochStillGivesNumbers) {
  TrainConfig c = tiny_config("short");
  c.max_steps = 2;
  const auto result = train::Trainer(c, false).run();
  EXPECT_EQ(result.status, train::RunStatus::max_steps);
  ASSERT_TRUE(result.test.has_value());
  EXPECT_EQ(result.test->truth.size(), 12u);
  for (const char* file : {"best.safetensors", "last.safetensors", "results.json", "report.html", "predictions.csv"})
    EXPECT_TRUE(fs::exists(fs::path(c.out) / file)) << file;
  EXPECT_FALSE(fs::exists(fs::path(c.out) / "final.safetensors"));
  const std::string metrics = read_text(fs::path(c.out) / "metrics.csv");
  EXPECT_EQ(count_of(metrics, "\n"), 2) << metrics;  // header + the partial epoch
  EXPECT_NE(metrics.find("\n1,2,"), std::string::npos) << metrics;  // epoch 1, step 2
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
