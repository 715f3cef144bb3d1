// Finite-difference gradient checks (f64, central differences, rtol 1e-6) of every differentiable op,
// including broadcasting and reductions, plus checks that gradcheck itself catches a wrong gradient.
#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/factory.h"
#include "tests/test_util.h"

using namespace edat;

namespace {

using Inputs = std::vector<Tensor>;

// A random f64 leaf with values in [lo, hi] (away from kinks such as 0 for abs and relu when lo > 0).
Tensor input(const Shape& shape, double lo = -2, double hi = 2, bool requires_grad = true) {
  static Generator gen(99);
  return edat::testing::f64_input(gen, shape, lo, hi, requires_grad);
}

// Values of either sign, but at least 0.1 away from zero.
Tensor away_from_zero(const Shape& shape) {
  Tensor t = input(shape, 0.1, 2, false);
  Tensor s = sign(input(shape, -1, 1, false));
  return (t * s).detach().set_requires_grad();
}

void expect_gradcheck(const GradcheckFn& fn, const Inputs& inputs) {
  GradcheckResult result = gradcheck(fn, inputs);
  EXPECT_TRUE(result.ok) << result.summary();
}

}  // namespace

TEST(Gradcheck, AddSubMulDivSameShape) {
  Inputs in = {input({3, 4}), input({3, 4}, 0.5, 2)};
  expect_gradcheck([](const Inputs& x) { return x[0] + x[1]; }, in);
  expect_gradcheck([](const Inputs& x) { return x[0] - x[1]; }, in);
  expect_gradcheck([](const Inputs& x) { return x[0] * x[1]; }, in);
  expect_gradcheck([](const Inputs& x) { return x[0] / x[1]; }, in);
}

TEST(Gradcheck, BroadcastPerChannel) {
  Inputs in = {input({2, 3, 2, 2}), input({1, 3, 1, 1}, 0.5, 2)};
  expect_gradcheck([](const Inputs& x) { return x[0] + x[1]; }, in);
  expect_gradcheck([](const Inputs& x) { return x[0] - x[1]; }, in);
  expect_gradcheck([](const Inputs& x) { return x[0] * x[1]; }, in);
  expect_gradcheck([](const Inputs& x) { return x[0] / x[1]; }, in);
  expect_gradcheck([](const Inputs& x) { return x[1] / x[0]; }, {away_from_zero({2, 3, 2, 2}), input({1, 3, 1, 1})});
}

TEST(Gradcheck, BroadcastVectorAndOuter) {
  expect_gradcheck([](const Inputs& x) { return x[0] * x[1]; }, {input({3}), input({2, 3})});
  expect_gradcheck([](const Inputs& x) { return x[0] - x[1]; }, {input({4, 1}), input({1, 5})});
  expect_gradcheck([](const Inputs& x) { return x[0] / x[1]; }, {input({2, 3}), input({}, 0.5, 2)});
}

TEST(Gradcheck, OnlySomeInputsRequireGrad) {
  expect_gradcheck([](const Inputs& x) { return x[0] * x[1]; }, {input({2, 3}), input({2, 3}, -1, 1, false)});
  expect_gradcheck([](const Inputs& x) { return x[0] / x[1]; }, {input({2, 3}, -1, 1, false), input({3}, 0.5, 2)});
}

TEST(Gradcheck, Scalars) {
  expect_gradcheck([](const Inputs& x) { return x[0] + 2.5; }, {input({3})});
  expect_gradcheck([](const Inputs& x) { return x[0] * -1.5; }, {input({3})});
  expect_gradcheck([](const Inputs& x) { return 2.0 - x[0]; }, {input({3})});
  expect_gradcheck([](const Inputs& x) { return 2.0 / x[0]; }, {input({3}, 0.5, 2)});
}

TEST(Gradcheck, Unary) {
  expect_gradcheck([](const Inputs& x) { return neg(x[0]); }, {input({2, 5})});
  expect_gradcheck([](const Inputs& x) { return abs(x[0]); }, {away_from_zero({2, 5})});
  expect_gradcheck([](const Inputs& x) { return sign(x[0]); }, {away_from_zero({2, 5})});
  expect_gradcheck([](const Inputs& x) { return exp(x[0]); }, {input({2, 5})});
  expect_gradcheck([](const Inputs& x) { return log(x[0]); }, {input({2, 5}, 0.2, 3)});
  expect_gradcheck([](const Inputs& x) { return sqrt(x[0]); }, {input({2, 5}, 0.2, 3)});
  expect_gradcheck([](const Inputs& x) { return relu(x[0]); }, {away_from_zero({2, 5})});
  // relu6 on both sides of both kinks (0 and 6), each value at least 0.1 away from them.
  expect_gradcheck([](const Inputs& x) { return relu6(x[0]); },
                   {from_vector({-2.0, -0.1, 0.1, 1.5, 3, 5.9, 6.1, 9}, {2, 4}, {.dtype = DType::f64}).set_requires_grad()});
  expect_gradcheck([](const Inputs& x) { return sigmoid(x[0]); }, {input({2, 5}, -4, 4)});
  expect_gradcheck([](const Inputs& x) { return log_sigmoid(x[0]); }, {input({2, 5}, -4, 4)});
  expect_gradcheck([](const Inputs& x) { return log_sigmoid(x[0]); }, {input({2, 3}, -40, -20)});  // large |x|
  expect_gradcheck([](const Inputs& x) { return log_sigmoid(x[0]); }, {input({2, 3}, 10, 20)});
}

TEST(Gradcheck, Pow) {
  for (double p : {2.0, 3.0, 0.5, -1.0, 1.7}) {
    expect_gradcheck([p](const Inputs& x) { return pow(x[0], p); }, {input({2, 4}, 0.3, 2)});
  }
  expect_gradcheck([](const Inputs& x) { return pow(x[0], 2.0); }, {input({2, 4})});  // negative bases, integer p
}

TEST(Gradcheck, Reductions) {
  Inputs in = {input({2, 3, 4})};
  expect_gradcheck([](const Inputs& x) { return sum(x[0]); }, in);
  expect_gradcheck([](const Inputs& x) { return mean(x[0]); }, in);
  expect_gradcheck([](const Inputs& x) { return sum(x[0], {1}); }, in);
  expect_gradcheck([](const Inputs& x) { return sum(x[0], {0, 2}, true); }, in);
  expect_gradcheck([](const Inputs& x) { return mean(x[0], {-1}); }, in);
  expect_gradcheck([](const Inputs& x) { return mean(x[0], {0, 1}, true); }, in);
  expect_gradcheck([](const Inputs& x) { return sum(x[0], {0, 2, 3}); }, {input({2, 3, 2, 2})});  // batch-norm style
}

TEST(Gradcheck, Max) {
  // Distinct values so that the maximum is unique and stays put under the perturbation.
  Tensor x = (arange(0, 24, 1, {.dtype = DType::f64}) * 0.37 - 4.0);
  Tensor shuffled = reshape(x, {2, 3, 4}) * from_vector({1, -1, 0.5, -0.25}, {.dtype = DType::f64});
  Tensor leaf = shuffled.detach().set_requires_grad();
  expect_gradcheck([](const Inputs& in) { return max(in[0], 1).values; }, {leaf});
  expect_gradcheck([](const Inputs& in) { return max(in[0], -1, true).values; }, {leaf});
  expect_gradcheck([](const Inputs& in) { return max(in[0], 0).values; }, {leaf});
}

TEST(Gradcheck, ExpandAndSumTo) {
  expect_gradcheck([](const Inputs& x) { return expand(x[0], {2, 3, 4}); }, {input({3, 1})});
  expect_gradcheck([](const Inputs& x) { return sum_to(x[0], {3, 1}); }, {input({2, 3, 4})});
}

TEST(Gradcheck, MatmulAllTransposes) {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      Tensor a = ta ? input({4, 3}) : input({3, 4});
      Tensor b = tb ? input({5, 4}) : input({4, 5});
      GradcheckResult result = gradcheck([ta, tb](const Inputs& x) { return matmul(x[0], x[1], ta, tb); }, {a, b});
      EXPECT_TRUE(result.ok) << "ta " << ta << " tb " << tb << ": " << result.summary();
    }
  }
}

TEST(Gradcheck, ShapeOps) {
  expect_gradcheck([](const Inputs& x) { return transpose(x[0]); }, {input({3, 5})});
  expect_gradcheck([](const Inputs& x) { return reshape(x[0], {4, -1}) * 2.0; }, {input({2, 3, 2})});
  expect_gradcheck([](const Inputs& x) { return flatten(x[0], 1); }, {input({2, 3, 2})});
}

TEST(Gradcheck, TwoLayerNetwork) {
  // x (4, 3) -> relu(x W1^T + b1) (4, 5) -> W2 (1, 5) -> mean squared error against y.
  Tensor y = input({4, 1}, -1, 1, false);
  expect_gradcheck(
      [y](const Inputs& p) {
        Tensor h = relu(matmul(p[0], p[1], false, true) + p[2]);
        return mean(pow(matmul(h, p[3], false, true) - y, 2.0));
      },
      {input({4, 3}), input({5, 3}), input({5}, 0.5, 1), input({1, 5})});
}

TEST(Gradcheck, CatchesAWrongGradient) {
  // x^2 whose backward claims 2x + 0.001: gradcheck must fail and point at the worst element.
  auto wrong_square = [](const Inputs& in) {
    Tensor out = (in[0] * in[0]).detach();
    return autograd::record("wrong_square", out, {in[0]}, [x = in[0].detach()](const Tensor& g, const std::vector<bool>&) {
      return std::vector<Tensor>{g * (x * 2.0 + 0.001)};
    });
  };
  GradcheckResult result = gradcheck(wrong_square, {input({3})});
  EXPECT_FALSE(result.ok);
  EXPECT_GT(result.worst_ratio, 1.0);
  EXPECT_NE(result.worst.find("input 0"), std::string::npos) << result.worst;
}

TEST(Gradcheck, RejectsF32Inputs) {
  EXPECT_TRUE(edat::testing::throws_with(
      [] { gradcheck([](const Inputs& x) { return x[0]; }, {ones({2}, {.requires_grad = true})}); }, {"f64", "f32[2]"}));
}
