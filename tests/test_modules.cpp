// Module base: names, state dicts, strict loading, modes, freezing, moving; layer Modules' shapes and init.
#include <cmath>

#include "autograd/ops.h"
#include "layers/modules.h"
#include "tensor/factory.h"
#include "tests/test_util.h"

using namespace edat;
using edat::testing::all_close;
using edat::testing::throws_with;

namespace {

// conv -> bn -> relu -> pool -> flatten -> fc, with torchvision-like names.
struct TinyNet : nn::Module {
  explicit TinyNet(std::int64_t outputs = 2) : Module("TinyNet") {
    Generator gen(3);
    conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(nn::Conv2dSpec{.in = 3, .out = 4, .kernel = 3,
                                                                                 .padding = 1, .bias = false}, gen));
    bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(4));
    pool = register_module("pool", std::make_shared<nn::AdaptiveAvgPool2d>(1, 1));
    fc = register_module("fc", std::make_shared<nn::Linear>(4, outputs, true, gen));
  }
  Tensor forward(const Tensor& x) override { return (*fc)(flatten((*pool)(relu((*bn1)((*conv1)(x)))), 1)); }
  std::shared_ptr<nn::Module> conv1, bn1, pool, fc;
};

std::vector<std::string> keys(const nn::NamedTensors& tensors) {
  std::vector<std::string> out;
  for (const auto& [name, tensor] : tensors) out.push_back(name);
  return out;
}

}  // namespace

TEST(Module, NamesFollowTorchvisionOrder) {
  TinyNet net;
  EXPECT_EQ(keys(net.state_dict()),
            (std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                                      "bn1.num_batches_tracked", "fc.weight", "fc.bias"}));
  EXPECT_EQ(keys(net.named_parameters()),
            (std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "fc.weight", "fc.bias"}));
  EXPECT_EQ(net.parameter_count(), 4 * 3 * 9 + 4 + 4 + 2 * 4 + 2);
  EXPECT_EQ(net.named_modules().size(), 5u);
  EXPECT_EQ(net.named_modules()[2].first, "bn1");
}

TEST(Module, DefaultInitialisationIsPyTorchs) {
  Generator gen(11);
  nn::Linear linear(400, 300, true, gen);
  const auto w = linear.weight().to_vector<double>();
  double lo = 1, hi = -1, sq = 0;
  for (double v : w) lo = std::min(lo, v), hi = std::max(hi, v), sq += v * v;
  EXPECT_GE(lo, -1.0 / 20);  // bound 1/sqrt(400)
  EXPECT_LE(hi, 1.0 / 20);
  EXPECT_NEAR(std::sqrt(sq / w.size()), (1.0 / 20) / std::sqrt(3.0), 2e-4);  // std of U(-b, b)
  nn::BatchNorm2d bn(5);
  EXPECT_TRUE(all_close(bn.weight(), {1, 1, 1, 1, 1}, 0));
  EXPECT_TRUE(all_close(bn.bias(), {0, 0, 0, 0, 0}, 0));
}

TEST(Module, TrainEvalPropagates) {
  TinyNet net;
  EXPECT_TRUE(net.bn1->is_training());
  net.eval();
  EXPECT_FALSE(net.is_training());
  EXPECT_FALSE(net.bn1->is_training());
  net.train();
  EXPECT_TRUE(net.fc->is_training());
}

TEST(Module, BatchNormCountsBatchesInTrainingOnly) {
  TinyNet net;
  Generator gen(1);
  Tensor x = uniform({2, 3, 5, 5}, -1, 1, gen);
  net.forward(x);
  net.forward(x);
  net.eval();
  net.forward(x);
  const Tensor counter = net.state_dict()[5].second;
  EXPECT_EQ(counter.dtype(), DType::i64);
  EXPECT_EQ(counter.item(), 2);
}

TEST(Module, FreezingAndTrainableParameters) {
  TinyNet net;
  net.conv1->set_requires_grad(false);
  net.bn1->set_requires_grad(false);
  EXPECT_EQ(net.trainable_parameters().size(), 2u);
  Generator gen(2);
  Tensor loss = sum(net.forward(uniform({2, 3, 4, 4}, -1, 1, gen)));
  loss.backward();
  for (const auto& [name, p] : net.named_parameters()) {
    EXPECT_EQ(p.grad().defined(), name.rfind("fc.", 0) == 0) << name;
  }
}

TEST(Module, ToDtypeKeepsTensorIdentity) {
  TinyNet net;
  Tensor weight = net.named_parameters()[0].second;  // a handle held elsewhere, as an optimizer would
  net.to(DType::f64);
  EXPECT_EQ(weight.dtype(), DType::f64);
  EXPECT_TRUE(weight.requires_grad());
  EXPECT_EQ(net.state_dict()[5].second.dtype(), DType::i64);  // num_batches_tracked stays an integer
  Generator gen(4);
  EXPECT_EQ(net.forward(uniform({1, 3, 4, 4}, -1, 1, gen, {.dtype = DType::f64})).dtype(), DType::f64);
}

TEST(Module, LoadStateDictRoundTrip) {
  TinyNet a, b;
  Generator gen(5);
  for (auto& [name, t] : a.state_dict())  // a variance is never negative: loading refuses one
    if (t.dtype() == DType::f32) t.copy_(uniform(t.shape(), name.ends_with("running_var") ? 0.1 : -1, 1, gen));
  const nn::LoadReport report = b.load_state_dict(a.state_dict());
  EXPECT_EQ(report.loaded.size(), 8u);
  for (std::size_t i = 0; i < 8; ++i) {
    EXPECT_TRUE(all_close(b.state_dict()[i].second, a.state_dict()[i].second, 0)) << keys(a.state_dict())[i];
  }
}

TEST(Module, StrictLoadingListsEveryProblemAtOnce) {
  TinyNet net;
  nn::NamedTensors state = TinyNet(3).state_dict();  // fc has 3 outputs: shape mismatch
  state.erase(state.begin() + 1);                  // bn1.weight missing
  state.emplace_back("extra.weight", ones({1}));   // unexpected
  EXPECT_TRUE(throws_with([&] { net.load_state_dict(state); },
                          {"TinyNet", "shape mismatch: fc.weight (file [3, 4], model [2, 4]), fc.bias",
                           "missing keys: bn1.weight", "unexpected keys: extra.weight"}));
}

TEST(Module, LoadingRefusesNonFiniteWeightsAndNegativeVariances) {
  // What a corrupt file can hold: loaded, it would make every prediction NaN.
  TinyNet net;
  const float fc_weight = net.state_dict()[6].second.data<float>()[0];  // fc.weight
  nn::NamedTensors state = TinyNet().state_dict();
  for (auto& [name, tensor] : state) {
    if (name == "fc.weight") tensor.data<float>()[0] = 123, tensor.data<float>()[1] = INFINITY;
    if (name == "bn1.running_var") tensor.data<float>()[2] = -0.5f;
    if (name == "bn1.running_mean") tensor.data<float>()[0] = NAN;
  }
  EXPECT_TRUE(throws_with([&] { net.load_state_dict(state); },
                          {"values no trained network holds", "bn1.running_mean (1 NaN or infinite)",
                           "bn1.running_var (1 negative variances)", "fc.weight (1 NaN or infinite)"}));
  EXPECT_EQ(net.state_dict()[6].second.data<float>()[0], fc_weight);  // nothing was loaded
}

TEST(Module, SkippingTheHead) {
  TinyNet net;
  const nn::NamedTensors imagenet = TinyNet(10).state_dict();
  const nn::LoadReport report = net.load_state_dict(imagenet, {.skip_prefixes = {"fc."}});
  EXPECT_EQ(report.loaded.size(), 6u);
  EXPECT_EQ(report.skipped, (std::vector<std::string>{"fc.weight", "fc.bias"}));
  EXPECT_NE(report.summary().find("loaded 6 tensors"), std::string::npos) << report.summary();
}

TEST(Module, Sequential) {
  Generator gen(6);
  auto seq = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(3, 4, true, gen), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(4, 1, true, gen)});
  EXPECT_EQ(keys(seq->named_parameters()), (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  EXPECT_EQ(seq->forward(ones({5, 3})).shape(), (Shape{5, 1}));
  EXPECT_NE(seq->repr().find("(1): ReLU()"), std::string::npos) << seq->repr();

  // set(i, module) swaps a child in place: same name, same position (how MobileNetV2 and VGG swap heads).
  seq->set(1, std::make_shared<nn::ReLU6>());
  seq->set(2, std::make_shared<nn::Linear>(4, 2, true, gen));
  EXPECT_EQ(keys(seq->named_parameters()), (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  EXPECT_EQ(seq->forward(ones({5, 3})).shape(), (Shape{5, 2}));
  EXPECT_NE(seq->repr().find("(1): ReLU6()"), std::string::npos) << seq->repr();
  EXPECT_TRUE(throws_with([&] { seq->set(3, std::make_shared<nn::ReLU>()); }, {"index 3", "3 modules"}));
}

TEST(Module, ReLU6ClampsToZeroAndSix) {
  nn::ReLU6 relu6;
  EXPECT_TRUE(all_close(relu6(from_vector({-2.0, 0.0, 3.5, 6.0, 9.0}, {5})), {0, 0, 3.5, 6, 6}, 0));
}

TEST(Module, ConstructorErrors) {
  EXPECT_TRUE(throws_with([] { nn::Conv2d({.in = 3, .out = 4, .kernel = 3, .groups = 2}); }, {"groups 2"}));
  EXPECT_TRUE(throws_with([] { nn::Linear(0, 3); }, {"Linear", "in 0"}));
  EXPECT_TRUE(throws_with([] { nn::Dropout(1.0); }, {"Dropout", "[0, 1)"}));
}
