// Every layer Module and every block of the models through the one generic tester, tests/module_tester.h
// (gradients of input and parameters in f64, .grad accumulation, state dict round trip, train vs eval, CPU vs CUDA
// with a GPU), plus modules built wrong on purpose to show that the tester fails when it should.
#include <gtest/gtest-spi.h>

#include <functional>

#include "autograd/node.h"
#include "layers/modules.h"
#include "models/coral.h"
#include "models/mobilenet_v2.h"
#include "models/resnet.h"
#include "tests/module_tester.h"

using namespace edat;
using edat::testing::test_module;

namespace {

Tensor input(const Shape& shape, double lo = -1, double hi = 1) {
  static Generator generator(31);
  return uniform(shape, lo, hi, generator, {.dtype = DType::f64});
}

Generator& init() {
  static Generator generator(5);
  return generator;
}

template <class M, class... Args>
std::shared_ptr<M> make(Args&&... args) {
  return std::make_shared<M>(std::forward<Args>(args)...);
}

}  // namespace

TEST(EveryModule, Conv2d) {
  const nn::Conv2dSpec specs[] = {
      {.in = 3, .out = 4, .kernel = 3, .padding = 1},
      {.in = 3, .out = 4, .kernel = 3, .stride = 2, .bias = false},
      {.in = 4, .out = 4, .kernel = 3, .padding = 1, .groups = 4},  // depthwise
      {.in = 4, .out = 2, .kernel = 1},
  };
  for (const nn::Conv2dSpec& spec : specs) {
    nn::Conv2d conv(spec, init());
    test_module(conv, input({2, spec.in, 5, 5}));
  }
}

TEST(EveryModule, BatchNorm2d) {
  nn::BatchNorm2d bn(3);
  test_module(bn, input({3, 3, 2, 3}, -2, 3));
}

TEST(EveryModule, Linear) {
  nn::Linear with_bias(4, 3, true, init()), without(4, 2, false, init());
  test_module(with_bias, input({5, 4}));
  test_module(without, input({2, 4}));
}

TEST(EveryModule, Activations) {
  nn::ReLU relu;
  nn::ReLU6 relu6;
  test_module(relu, input({2, 3, 4}));
  test_module(relu6, input({2, 3, 4}, -2, 8));  // both kinks, 0 and 6, inside the range
}

TEST(EveryModule, Pooling) {
  nn::MaxPool2d stem(3, 2, 1), plain(2);
  nn::AdaptiveAvgPool2d global(1, 1), uneven(3, 2);
  test_module(stem, input({2, 2, 7, 6}));
  test_module(plain, input({1, 3, 4, 6}));
  test_module(global, input({2, 3, 4, 5}));
  test_module(uneven, input({1, 2, 5, 7}));
}

TEST(EveryModule, DropoutAndFlatten) {
  nn::Dropout dropout(0.3, init());
  nn::Flatten flatten;
  test_module(dropout, input({4, 5}), {.deterministic_train = false});  // a fresh mask per forward
  test_module(flatten, input({2, 3, 2, 2}));
}

TEST(EveryModule, Sequential) {
  nn::Sequential stack{make<nn::Conv2d>(nn::Conv2dSpec{.in = 2, .out = 3, .kernel = 3, .padding = 1}, init()),
                       make<nn::BatchNorm2d>(3), make<nn::ReLU>()};
  test_module(stack, input({2, 2, 4, 4}));
}

TEST(EveryModule, ResNetBlocks) {
  models::BasicBlock same(4, 4, 1, nullptr, init());
  test_module(same, input({2, 4, 4, 4}));
  auto downsample = make<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      make<nn::Conv2d>(nn::Conv2dSpec{.in = 4, .out = 6, .kernel = 1, .stride = 2, .bias = false}, init()),
      make<nn::BatchNorm2d>(6)});
  models::BasicBlock strided(4, 6, 2, downsample, init());
  test_module(strided, input({2, 4, 5, 5}));
  auto expand = make<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      make<nn::Conv2d>(nn::Conv2dSpec{.in = 4, .out = 8, .kernel = 1, .bias = false}, init()),
      make<nn::BatchNorm2d>(8)});
  models::Bottleneck bottleneck(4, 2, 1, expand, init());
  test_module(bottleneck, input({2, 4, 3, 3}));
}

TEST(EveryModule, MobileNetBlockAndCoralHead) {
  models::InvertedResidual residual(4, 4, 1, 2, init()), strided(4, 6, 2, 1, init());
  test_module(residual, input({2, 4, 4, 4}, -2, 2));
  test_module(strided, input({2, 4, 5, 5}, -2, 2));
  models::CoralHead head(6, 5, init());
  test_module(head, input({3, 6}));
}

// ---- the tester fails when it should ----
namespace {

// y = x * weight, with a backward that is wrong by a factor of 2 for the weight.
class WrongBackward : public nn::Module {
 public:
  WrongBackward() : Module("WrongBackward") { register_parameter("weight", from_vector({0.5, -1.5}, {2})); }
  Tensor forward(const Tensor& x) override {
    const Tensor w = parameter("weight");
    Tensor out = x.detach() * w.detach();
    return autograd::record("wrong", out, {x, w},
                            [x = x.detach(), w = w.detach()](const Tensor& g, const std::vector<bool>&) {
                              return std::vector<Tensor>{g * w, sum_to(g * x * 2.0, w.shape())};
                            });
  }
};

// Whose eval forward updates a buffer, as a batch norm that ignored eval() would.
class DriftsInEval : public nn::Module {
 public:
  DriftsInEval() : Module("DriftsInEval") { register_buffer("count", zeros({1})); }
  Tensor forward(const Tensor& x) override {
    Tensor& count = buffer("count");
    count.copy_(count + 1.0);
    return x * 2.0;
  }
};

// The messages of the gtest failures `run` reports, intercepted (so they do not fail this test).
std::vector<std::string> failures_of(const std::function<void()>& run) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    run();
  }
  std::vector<std::string> messages;
  for (int i = 0; i < results.size(); ++i) messages.emplace_back(results.GetTestPartResult(i).message());
  return messages;
}

bool any_contains(const std::vector<std::string>& messages, const std::string& part) {
  for (const std::string& m : messages)
    if (m.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(EveryModule, TesterCatchesAWrongBackward) {
  WrongBackward wrong;
  const auto failures = failures_of([&] { test_module(wrong, input({3, 2})); });
  EXPECT_TRUE(any_contains(failures, "WrongBackward, eval mode: gradcheck FAILED")) << failures.size();
}

TEST(EveryModule, TesterCatchesAnEvalForwardThatChangesState) {
  DriftsInEval drifts;
  const auto failures = failures_of([&] { test_module(drifts, input({3, 2})); });
  EXPECT_TRUE(any_contains(failures, "DriftsInEval: eval forward changed state tensor 0")) << failures.size();
}
