// ResNet-18/34/50: torchvision's structure, names, shapes, parameter counts and initialisation; and parity with
// PyTorch: a ResNet-34 with 1 output against fixtures written by scripts/make_fixtures.py (eval output, train output,
// L1 loss, every parameter's gradient, running statistics after the step), with weights rebuilt from the seeded
// stream and, separately, read from a .pth made by torch.save in both formats.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "models/resnet.h"
#include "tests/model_test_util.h"
#include "weights/pth.h"
#include "weights/safetensors.h"

using namespace edat;
using namespace edat::testing;

namespace {

const std::string kFixtures = EDAT_FIXTURES_DIR;

// The weights of scripts/make_fixtures.py (its bounds()): each floating state-dict tensor in order drawn from one
// stream.
void seeded_weights(nn::Module& model, std::uint64_t seed) {
  stream_weights(model, seed, [](const std::string& name, const Tensor& t) -> std::pair<double, double> {
    if (t.dim() == 4) {
      const double b = std::sqrt(6.0 / static_cast<double>(t.size(0) * t.size(2) * t.size(3)));
      return {-b, b};
    }
    if (name.starts_with("fc.")) return {-1.0 / std::sqrt(512.0), 1.0 / std::sqrt(512.0)};
    if (name.ends_with("running_var") || name.ends_with("weight")) return {0.5, 1.5};
    return {-0.2, 0.2};  // batch-norm bias and running_mean
  });
}

}  // namespace

TEST(ResNet, ParameterCountsMatchTorchvision) {
  Generator gen(0);
  EXPECT_EQ(models::resnet34(1000, gen)->parameter_count(), 21797672);
  EXPECT_EQ(models::resnet18(1000, gen)->parameter_count(), 11689512);
  EXPECT_EQ(models::resnet50(1000, gen)->parameter_count(), 25557032);
  EXPECT_EQ(models::resnet34(1, gen)->parameter_count(), 21797672 - 999 * 513);
}

TEST(ResNet, NamesAndShapes) {
  Generator gen(0);
  auto model = models::resnet34(1, gen);
  const nn::NamedTensors state = model->state_dict();
  EXPECT_EQ(state.size(), 218u);
  EXPECT_EQ(model->named_parameters().size(), 110u);
  std::map<std::string, Shape> shapes;
  for (const auto& [name, t] : state) shapes[name] = t.shape();
  EXPECT_EQ(state.front().first, "conv1.weight");
  EXPECT_EQ(state.back().first, "fc.bias");
  EXPECT_EQ(shapes["conv1.weight"], (Shape{64, 3, 7, 7}));
  EXPECT_EQ(shapes["layer1.0.bn1.running_var"], (Shape{64}));
  EXPECT_EQ(shapes["layer2.0.downsample.0.weight"], (Shape{128, 64, 1, 1}));
  EXPECT_EQ(shapes["layer4.2.conv2.weight"], (Shape{512, 512, 3, 3}));
  EXPECT_EQ(shapes["fc.weight"], (Shape{1, 512}));
  EXPECT_EQ(shapes.count("layer1.0.downsample.0.weight"), 0u);

  auto r50 = models::resnet50(1000, gen);
  std::map<std::string, Shape> s50;
  for (const auto& [name, t] : r50->state_dict()) s50[name] = t.shape();
  EXPECT_EQ(s50["layer1.0.conv3.weight"], (Shape{256, 64, 1, 1}));
  EXPECT_EQ(s50["layer1.0.downsample.0.weight"], (Shape{256, 64, 1, 1}));
  EXPECT_EQ(s50["layer3.5.conv2.weight"], (Shape{256, 256, 3, 3}));
  EXPECT_EQ(s50["fc.weight"], (Shape{1000, 2048}));
}

TEST(ResNet, TorchvisionInitialisation) {
  Generator gen(1);
  auto model = models::resnet34(1, gen);
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : model->state_dict()) state[name] = t;
  // kaiming_normal_(fan_out, relu): std = sqrt(2 / (out * k * k)).
  const std::vector<double> w = state["layer3.1.conv1.weight"].to_vector<double>();
  double sq = 0, mean = 0;
  for (double v : w) mean += v / w.size(), sq += v * v / w.size();
  EXPECT_NEAR(mean, 0, 1e-3);
  EXPECT_NEAR(std::sqrt(sq), std::sqrt(2.0 / (256 * 9)), 2e-4);
  EXPECT_TRUE(all_close(state["layer3.1.bn1.weight"], std::vector<double>(256, 1.0), 0));
  EXPECT_TRUE(all_close(state["layer3.1.bn1.running_var"], std::vector<double>(256, 1.0), 0));
}

TEST(ResNet, OutputShapesAndBadInput) {
  Generator gen(2);
  auto model = models::resnet18(3, gen);
  model->eval();
  NoGradGuard no_grad;
  EXPECT_EQ(model->forward(uniform({2, 3, 32, 40}, -1, 1, gen)).shape(), (Shape{2, 3}));
  EXPECT_EQ(model->features(uniform({1, 3, 32, 32}, -1, 1, gen)).shape(), (Shape{1, 512}));
  EXPECT_TRUE(throws_with([&] { model->forward(ones({2, 1, 32, 32})); }, {"ResNet", "(N, 3, H, W)", "f32[2, 1, 32, 32]"}));
  EXPECT_TRUE(throws_with([&] { models::make_resnet("resnet35", 1); }, {"resnet35", "resnet34"}));
}

TEST(ResNetParity, SeededWeightsMatchPyTorch) {
  const auto fixture = load_fixture("resnet34_parity.safetensors");
  auto model = models::resnet34(1);
  seeded_weights(*model, 2024);
  expect_parity(*model, fixture, Device::cpu());
}

TEST(ResNetParity, WeightsFromPthMatchPyTorch) {
  const auto fixture = load_fixture("resnet34_strided_parity.safetensors");
  for (const char* file : {"resnet34_strided.pth", "resnet34_strided_legacy.pth"}) {
    SCOPED_TRACE(file);
    auto model = models::resnet34(1);
    model->load_state_dict(weights::read_pth(kFixtures + "/" + file));
    expect_parity(*model, fixture, Device::cpu(), DType::f64);  // f64: see scripts/make_fixtures.py
  }
}

TEST(ResNetParity, SeededWeightsOnCudaMatchPyTorch) {
  EDAT_REQUIRE_CUDA();
  const auto fixture = load_fixture("resnet34_parity.safetensors");
  auto model = models::resnet34(1);
  seeded_weights(*model, 2024);
  expect_parity(*model, fixture, Device::cuda(0));
}

TEST(ResNetCuda, ForwardBackwardMatchCpu) {
  EDAT_REQUIRE_CUDA();
  auto on_cpu = models::resnet34(1), on_gpu = models::resnet34(1);
  seeded_weights(*on_cpu, 99);
  seeded_weights(*on_gpu, 99);
  Generator gen(5);
  const Tensor x = uniform({4, 3, 96, 96}, -2, 2, gen), target = uniform({4, 1}, 20, 60, gen);
  expect_cuda_matches_cpu(*on_cpu, *on_gpu, x, target);
}
