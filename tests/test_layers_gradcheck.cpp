// Finite-difference gradient checks (f64, central differences, rtol 1e-6) of the layer ops: convolution in many
// geometries (and every chunking path of the CPU kernels), batch norm in both modes, both poolings, linear, dropout
// and the losses.
#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "layers/cpu/cpu_layer_kernels.h"
#include "layers/functional.h"
#include "tensor/factory.h"
#include "tests/conv_cases.h"
#include "tests/test_util.h"

using namespace edat;
using edat::nn::Conv2dOptions;
using edat::nn::Pool2dOptions;

namespace {

using Inputs = std::vector<Tensor>;

Tensor input(const Shape& shape, double lo = -1, double hi = 1, bool requires_grad = true) {
  static Generator gen(17);
  return edat::testing::f64_input(gen, shape, lo, hi, requires_grad);
}

// Distinct values 0.1 apart in a scrambled order, so every max-pool window has one clear maximum.
Tensor distinct(const Shape& shape) {
  const std::int64_t n = numel(shape);
  std::vector<double> values(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    values[static_cast<std::size_t>(i)] = static_cast<double>((i * 37) % n) * 0.1 - 2;
  EXPECT_NE(n % 37, 0);  // 37 coprime with n keeps the values distinct
  return from_vector(values, shape, {.dtype = DType::f64}).set_requires_grad();
}

void expect_gradcheck(const GradcheckFn& fn, const Inputs& inputs, const std::string& what = "",
                      const GradcheckOptions& options = {}) {
  GradcheckResult result = gradcheck(fn, inputs, options);
  EXPECT_TRUE(result.ok) << what << ": " << result.summary();
}

// Restores the default column budget of the CPU convolution when a test ends.
class BudgetGuard {
 public:
  BudgetGuard() : saved_(nn::cpu_impl::conv2d_column_budget()) {}
  ~BudgetGuard() { nn::cpu_impl::set_conv2d_column_budget(saved_); }

 private:
  std::size_t saved_;
};

// Convolution is linear in each input, so central differences are exact at any step: a large one keeps the
// rounding noise of the loss (about 1e-16 |L| / eps) far below the tolerance.
const GradcheckOptions kLinearStep{.eps = 1e-3};

using edat::testing::ConvCase;

// Gradients with respect to x, weight and bias of one geometry, under three chunkings of the batch: the whole batch
// in one GEMM (default budget), one sample per chunk (where 1x1 convolutions skip im2col), and two samples per chunk.
void check_conv(const ConvCase& c) {
  BudgetGuard guard;
  Inputs in = {input(c.x), input(c.w)};
  if (c.bias) in.push_back(input({c.w[0]}));
  auto fn = [&c](const Inputs& v) { return nn::conv2d(v[0], v[1], c.bias ? v[2] : Tensor(), c.options); };
  const Tensor y = fn(in);
  const auto per_sample_columns = static_cast<std::size_t>(c.w[1] * c.w[2] * c.w[3] * y.size(2) * y.size(3)) * 8;
  for (std::size_t budget : {std::size_t{1} << 30, std::size_t{1}, 2 * per_sample_columns}) {
    nn::cpu_impl::set_conv2d_column_budget(budget);
    expect_gradcheck(fn, in, std::string(c.name) + ", budget " + std::to_string(budget), kLinearStep);
  }
}

}  // namespace

TEST(LayersGradcheck, Conv2dGeometries) {
  int checked = 0;
  for (const ConvCase& c : edat::testing::conv_cases()) {
    if (!edat::testing::small_enough_to_gradcheck(c)) continue;
    check_conv(c);
    ++checked;
  }
  EXPECT_GE(checked, 12);  // the list's small cases: strides, padding, dilation, groups, depthwise, 1x1, 7x7
}

TEST(LayersGradcheck, Conv2dOnlySomeInputsRequireGrad) {
  const Conv2dOptions options{.stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1};
  auto fn = [&options](const Inputs& v) { return nn::conv2d(v[0], v[1], v[2], options); };
  expect_gradcheck(fn, {input({2, 3, 5, 4}), input({4, 3, 3, 3}, -1, 1, false), input({4}, -1, 1, false)}, "x only",
                   kLinearStep);
  expect_gradcheck(fn, {input({2, 3, 5, 4}, -1, 1, false), input({4, 3, 3, 3}), input({4}, -1, 1, false)}, "w only",
                   kLinearStep);
  expect_gradcheck(fn, {input({2, 3, 5, 4}, -1, 1, false), input({4, 3, 3, 3}, -1, 1, false), input({4})}, "b only",
                   kLinearStep);
}

TEST(LayersGradcheck, BatchNormTraining) {
  Tensor running_mean = zeros({4}, {.dtype = DType::f64}), running_var = ones({4}, {.dtype = DType::f64});
  expect_gradcheck([&](const Inputs& v) { return nn::batch_norm(v[0], v[1], v[2], running_mean, running_var, true); },
                   {input({3, 4, 3, 2}, -2, 3), input({4}, 0.5, 1.5), input({4})}, "affine");
  expect_gradcheck([&](const Inputs& v) { return nn::batch_norm(v[0], Tensor(), Tensor(), Tensor(), Tensor(), true); },
                   {input({2, 3, 2, 2})}, "no affine, no running statistics");
  // Batch norm as ResNet uses it, after a convolution: the gradient flows through both.
  Tensor mean2 = zeros({2}, {.dtype = DType::f64}), var2 = ones({2}, {.dtype = DType::f64});
  expect_gradcheck(
      [&](const Inputs& v) {
        Tensor h = nn::conv2d(v[0], v[1], Tensor(), {.pad_h = 1, .pad_w = 1});
        return relu(nn::batch_norm(h, v[2], v[3], mean2, var2, true)) * v[0];
      },
      {input({2, 2, 4, 3}), input({2, 2, 3, 3}), input({2}, 0.5, 1.5), input({2})}, "conv -> bn -> relu");
}

TEST(LayersGradcheck, BatchNormEvaluation) {
  Tensor running_mean = input({3}, -1, 1, false), running_var = input({3}, 0.5, 2, false);
  expect_gradcheck([&](const Inputs& v) { return nn::batch_norm(v[0], v[1], v[2], running_mean, running_var, false); },
                   {input({2, 3, 2, 3}), input({3}, 0.5, 1.5), input({3})});
}

TEST(LayersGradcheck, MaxPool) {
  const Pool2dOptions stem{.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
  expect_gradcheck([&](const Inputs& v) { return nn::max_pool2d(v[0], stem); }, {distinct({2, 3, 7, 8})}, "3/2/1");
  expect_gradcheck([](const Inputs& v) { return nn::max_pool2d(v[0], {}); }, {distinct({2, 2, 6, 5})}, "2/2/0");
  const Pool2dOptions odd{.kernel_h = 2,
                          .kernel_w = 3,
                          .stride_h = 1,
                          .stride_w = 2,
                          .pad_h = 1,
                          .pad_w = 0,
                          .dilation_h = 2,
                          .dilation_w = 1,
                          .ceil_mode = true};
  expect_gradcheck([&](const Inputs& v) { return nn::max_pool2d(v[0], odd); }, {distinct({1, 2, 7, 8})},
                   "dilation, ceil_mode");
}

TEST(LayersGradcheck, AdaptiveAvgPool) {
  expect_gradcheck([](const Inputs& v) { return nn::adaptive_avg_pool2d(v[0], 1, 1); }, {input({2, 3, 4, 5})}, "1x1");
  expect_gradcheck([](const Inputs& v) { return nn::adaptive_avg_pool2d(v[0], 7, 7); }, {input({1, 2, 7, 7})}, "7x7");
  expect_gradcheck([](const Inputs& v) { return nn::adaptive_avg_pool2d(v[0], 3, 2); }, {input({2, 2, 5, 7})}, "3x2");
  expect_gradcheck([](const Inputs& v) { return nn::adaptive_avg_pool2d(v[0], 4, 5); }, {input({1, 2, 3, 3})},
                   "upsampling 4x5");
}

TEST(LayersGradcheck, Linear) {
  expect_gradcheck([](const Inputs& v) { return nn::linear(v[0], v[1], v[2]); },
                   {input({4, 3}), input({5, 3}), input({5})}, "with bias");
  expect_gradcheck([](const Inputs& v) { return nn::linear(v[0], v[1], Tensor()); }, {input({2, 3, 4}), input({2, 4})},
                   "3-D input, no bias");
}

TEST(LayersGradcheck, Losses) {
  Tensor target = input({4, 3}, -1, 1, false);
  // prediction = target + an offset at least 0.1 away from zero, so |p - t| stays away from its kink.
  Tensor offset = (input({4, 3}, 0.1, 1, false) * sign(input({4, 3}, -1, 1, false))).detach();
  Tensor prediction = (target + offset).detach().set_requires_grad();
  expect_gradcheck([&](const Inputs& v) { return nn::l1_loss(v[0], target); }, {prediction}, "l1");
  expect_gradcheck([&](const Inputs& v) { return nn::mse_loss(v[0], target); }, {prediction}, "mse");
  expect_gradcheck([](const Inputs& v) { return nn::mse_loss(v[0], v[1]); }, {input({5}), input({5})},
                   "mse, both operands");
  expect_gradcheck([&](const Inputs& v) { return nn::l1_loss(target, v[0]); }, {prediction}, "l1, target side");
}

TEST(LayersGradcheck, Dropout) {
  // A fresh generator per evaluation: the same mask every time the function runs.
  expect_gradcheck(
      [](const Inputs& v) {
        Generator generator(7);
        return nn::dropout(v[0], 0.3, true, generator);
      },
      {input({3, 4, 5})});
}
