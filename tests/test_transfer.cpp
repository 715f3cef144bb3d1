// Transfer-learning modes on ResNet-18: which parameters train, frozen batch norms pinned in eval mode (running
// statistics and frozen weights bit-identical over training steps, model.train() notwithstanding), partial lists and
// their errors, switching modes, dropout before the head (state-dict names unchanged), and a CORAL head in place of fc.
// The same modes on MobileNetV2 (features.18,classifier) and VGG-16 (features.28,classifier), whose head dropout is
// torchvision's own Dropout before the head.
#include <algorithm>
#include <set>

#include "autograd/ops.h"
#include "layers/functional.h"
#include "models/coral.h"
#include "models/mobilenet_v2.h"
#include "models/resnet.h"
#include "models/vgg.h"
#include "models/transfer.h"
#include "optim/optimizer.h"
#include "tests/optim_test_util.h"

using namespace edat;
using namespace edat::testing;
using models::TransferMode;

namespace {

std::shared_ptr<models::ResNet> model18(std::uint64_t seed = 11) {
  Generator gen(seed);
  auto model = models::resnet18(1, gen);
  fixture_weights(*model, seed);
  return model;
}

// Three SGD steps (momentum, weight decay: frozen tensors must escape both) on 32x32 batches, in train mode.
void train_steps(models::Backbone& model, int steps = 3, double momentum = 0.9) {
  auto optimizer =
      optim::make_optimizer("sgd", model.named_parameters(), {.lr = 0.05, .momentum = momentum, .weight_decay = 1e-2});
  model.train();
  for (int s = 0; s < steps; ++s) {
    auto [x, t] = fixture_batch(s, {4, 3, 32, 32});
    optimizer->zero_grad();
    nn::l1_loss(model.forward(x), t).backward();
    optimizer->step();
  }
}

bool is_bn_buffer(const std::string& name) {
  return name.ends_with("running_mean") || name.ends_with("running_var") || name.ends_with("num_batches_tracked");
}

}  // namespace

TEST(Transfer, FeatureExtractionTrainsOnlyTheHeadAndKeepsRunningStatsBitIdentical) {
  auto model = model18();
  const auto summary = models::apply_transfer_mode(*model, TransferMode::feature_extraction);
  EXPECT_EQ(summary.trainable_parameters, 513);
  EXPECT_EQ(summary.pinned_batch_norms.size(), 20u);
  for (const auto& [name, p] : model->named_parameters()) EXPECT_EQ(p.requires_grad(), name.starts_with("fc.")) << name;
  model->train();
  for (auto& [name, module] : model->named_modules()) {
    if (dynamic_cast<nn::BatchNorm2d*>(module)) {
      EXPECT_FALSE(module->is_training()) << name << " must stay in eval mode";
      EXPECT_TRUE(module->eval_pinned()) << name;
    }
  }
  EXPECT_TRUE(model->is_training());

  const auto before = snapshot(*model);
  train_steps(*model);
  int identical = 0;
  for (const auto& [name, t] : model->state_dict()) {
    if (name.starts_with("fc.")) {
      EXPECT_FALSE(bit_identical(t, before.at(name))) << name << " should have trained";
    } else {
      EXPECT_TRUE(bit_identical(t, before.at(name))) << name;
      identical += is_bn_buffer(name);
    }
  }
  EXPECT_EQ(identical, 60);  // running_mean, running_var and num_batches_tracked of all 20 batch norms
}

TEST(Transfer, FinetuneTrainsEverythingAndRunningStatsMove) {
  auto model = model18();
  models::apply_transfer_mode(*model, TransferMode::feature_extraction);
  const auto summary = models::apply_transfer_mode(*model, TransferMode::finetune);  // switching releases the pins
  EXPECT_EQ(summary.frozen_parameters, 0);
  EXPECT_TRUE(summary.pinned_batch_norms.empty());
  const auto before = snapshot(*model);
  train_steps(*model, 1);
  for (const auto& [name, t] : model->state_dict()) EXPECT_FALSE(bit_identical(t, before.at(name))) << name;
}

TEST(Transfer, PartialTrainsTheListedParts) {
  auto model = model18();
  const auto summary = models::apply_transfer_mode(*model, TransferMode::partial, {"layer4", "fc"});
  std::int64_t expected = 0;
  for (const auto& [name, p] : model->named_parameters())
    if (name.starts_with("layer4.") || name.starts_with("fc.")) expected += p.numel();
  EXPECT_EQ(summary.trainable_parameters, expected);
  EXPECT_EQ(summary.pinned_batch_norms.size(), 15u);  // 20 less the 5 of layer4
  const auto before = snapshot(*model);
  train_steps(*model);
  for (const auto& [name, t] : model->state_dict()) {
    const bool trains = name.starts_with("layer4.") || name.starts_with("fc.");
    EXPECT_EQ(bit_identical(t, before.at(name)), !trains) << name;
  }

  // A deeper part: only the last block of layer4 (and the head).
  auto deep = model18();
  models::apply_transfer_mode(*deep, TransferMode::partial, models::split_parts(" layer4.1 , fc,"));
  for (const auto& [name, p] : deep->named_parameters())
    EXPECT_EQ(p.requires_grad(), name.starts_with("layer4.1.") || name.starts_with("fc.")) << name;
}

TEST(Transfer, PinnedModulesIgnoreTrainButTheirChildrenDoNot) {
  nn::Sequential outer{std::make_shared<nn::BatchNorm2d>(2), std::make_shared<nn::Dropout>(0.5)};
  outer.pin_eval();
  outer.train();
  EXPECT_FALSE(outer.is_training());
  EXPECT_TRUE(outer.child("0")->is_training());
  outer.pin_eval(false);
  outer.train();
  EXPECT_TRUE(outer.is_training());
}

TEST(Transfer, DropoutBeforeTheHeadKeepsTorchvisionNames) {
  auto model = model18();
  auto plain = model18();
  std::set<std::string> names;
  for (const auto& [name, t] : plain->state_dict()) names.insert(name);

  models::apply_transfer_mode(*model, TransferMode::feature_extraction, {}, 0.5);
  EXPECT_EQ(model->head_dropout(), 0.5);
  std::vector<std::string> children;
  for (auto& [name, child] : model->named_children()) children.push_back(name);
  ASSERT_GE(children.size(), 2u);
  EXPECT_EQ(children[children.size() - 2], "dropout");
  EXPECT_EQ(children.back(), "fc");
  std::set<std::string> with_dropout;
  for (const auto& [name, t] : model->state_dict()) with_dropout.insert(name);
  EXPECT_EQ(with_dropout, names);
  model->load_state_dict(plain->state_dict());  // torchvision-named weights load as before

  // Evaluation: dropout is the identity; training: half the features are dropped before fc.
  auto [x, t] = fixture_batch(0, {4, 3, 32, 32});
  model->eval();
  plain->eval();
  {
    NoGradGuard no_grad;
    EXPECT_TRUE(bit_identical(model->forward(x), plain->forward(x)));
  }
  model->train();
  plain->train();
  const Tensor y = model->forward(x), y_plain = plain->forward(x);
  EXPECT_FALSE(all_close(y, y_plain, 1e-3));

  models::apply_transfer_mode(*model, TransferMode::finetune, {}, 0);  // 0 removes it
  EXPECT_EQ(model->child("dropout"), nullptr);
}

TEST(Transfer, CoralHeadReplacesFc) {
  auto model = model18();
  model->set_head(std::make_shared<models::CoralHead>(model->feature_count(), 10));
  std::map<std::string, Shape> shapes;
  for (const auto& [name, t] : model->state_dict()) shapes[name] = t.shape();
  EXPECT_EQ(shapes.at("fc.weight"), (Shape{1, 512}));
  EXPECT_EQ(shapes.at("fc.bias"), (Shape{9}));
  models::apply_transfer_mode(*model, TransferMode::partial, {"layer4", "fc"}, 0.5);
  auto [x, t] = fixture_batch(0, {4, 3, 32, 32});
  Tensor logits = model->forward(x);
  EXPECT_EQ(logits.shape(), (Shape{4, 9}));
  const Tensor levels = models::coral_levels(from_vector({0, 3, 9, 5}), 10);
  models::coral_loss(logits, levels).backward();
  EXPECT_TRUE(model->named_parameters().back().second.grad().defined());
  EXPECT_EQ(models::coral_predict(logits).shape(), (Shape{4}));
}

TEST(TransferErrors, UnknownPartsAndModes) {
  auto model = model18();
  EXPECT_TRUE(throws_with(
      [&] {
        models::apply_transfer_mode(*model, TransferMode::partial, {"layer4", "layer5"});
      },
      {"unknown part 'layer5'", "conv1, bn1, layer1, layer2, layer3, layer4, fc"}));
  EXPECT_TRUE(throws_with([&] { models::apply_transfer_mode(*model, TransferMode::partial, {}); },
                          {"partial needs a list", "layer4,fc"}));
  EXPECT_TRUE(throws_with([&] { models::apply_transfer_mode(*model, TransferMode::finetune, {"fc"}); },
                          {"finetune takes no list"}));
  EXPECT_TRUE(throws_with([&] { models::apply_transfer_mode(*model, TransferMode::finetune, {}, 1.0); },
                          {"dropout", "[0, 1)"}));
  EXPECT_TRUE(throws_with([] { models::parse_transfer_mode("fine-tune"); },
                          {"'fine-tune'", "feature-extraction, finetune or partial"}));
  EXPECT_EQ(models::parse_transfer_mode("feature-extraction"), TransferMode::feature_extraction);
  EXPECT_EQ(models::parse_transfer_mode("partial"), TransferMode::partial);
}

// ---- MobileNetV2 and VGG-16 ----

namespace {

// Every tensor under one of `parts` changed after training, every other one is bit-identical.
void expect_only_parts_trained(const models::Backbone& model, const std::map<std::string, Tensor>& before,
                               const std::vector<std::string>& parts) {
  for (const auto& [name, t] : model.state_dict()) {
    const bool trains = std::any_of(parts.begin(), parts.end(), [&](const std::string& p) { return name.starts_with(p + "."); });
    EXPECT_EQ(bit_identical(t, before.at(name)), !trains) << name;
  }
}

}  // namespace

TEST(Transfer, MobileNetV2FeatureExtractionAndPartial) {
  Generator gen(12);
  auto model = models::mobilenet_v2(1, gen);
  fixture_weights(*model, 12);
  auto summary = models::apply_transfer_mode(*model, TransferMode::feature_extraction);
  EXPECT_EQ(summary.trainable_parameters, 1281);  // classifier.1: 1280 weights and a bias
  EXPECT_EQ(summary.pinned_batch_norms.size(), 52u);
  EXPECT_EQ(model->head_dropout(), 0.2);  // no dropout given: torchvision's classifier.0 stays
  auto before = snapshot(*model);
  train_steps(*model, 2);
  expect_only_parts_trained(*model, before, {"classifier.1"});

  summary = models::apply_transfer_mode(*model, TransferMode::partial, models::split_parts("features.18,classifier"), 0);
  EXPECT_EQ(summary.trainable_parameters, 1281 + 320 * 1280 + 2 * 1280);  // + features.18's conv and batch norm
  EXPECT_EQ(summary.pinned_batch_norms.size(), 51u);
  EXPECT_EQ(model->head_dropout(), 0);
  before = snapshot(*model);
  train_steps(*model, 2);
  expect_only_parts_trained(*model, before, {"features.18", "classifier"});
}

TEST(Transfer, Vgg16PartialAndHeadDropout) {
  Generator gen(13);
  auto model = models::vgg16(1, gen);
  fixture_weights(*model, 13);  // nonzero biases: torchvision's zero head bias can get a zero L1 gradient
  auto summary = models::apply_transfer_mode(*model, TransferMode::feature_extraction, {}, 0.25);
  EXPECT_EQ(summary.trainable_parameters, 4097);  // classifier.6
  EXPECT_EQ(model->head_dropout(), 0.25);
  EXPECT_EQ(dynamic_cast<nn::Dropout*>(model->child("classifier")->child("5"))->p(), 0.25);
  EXPECT_EQ(dynamic_cast<nn::Dropout*>(model->child("classifier")->child("2"))->p(), 0.5);  // the body's, untouched

  summary = models::apply_transfer_mode(*model, TransferMode::partial, {"features.28", "classifier"}, 0);
  std::int64_t expected = 0;
  for (const auto& [name, p] : model->named_parameters()) {
    const bool trains = name.starts_with("features.28.") || name.starts_with("classifier.");
    EXPECT_EQ(p.requires_grad(), trains) << name;
    if (trains) expected += p.numel();
  }
  EXPECT_EQ(summary.trainable_parameters, expected);
  const auto before = snapshot(*model);
  train_steps(*model, 1, /*momentum=*/0);  // one plain step: VGG-16 is 0.5 GB, its momentum another 0.5
  expect_only_parts_trained(*model, before, {"features.28", "classifier"});

  EXPECT_TRUE(throws_with([&] { models::apply_transfer_mode(*model, TransferMode::partial, {"layer4"}); },
                          {"unknown part 'layer4'", "features, classifier"}));
}
