// Forward values and gradients of the layer ops on the CPU against the textbook kernels of layers/reference/ (the
// oracle: direct convolution loops, batch norm through its explicit terms, window maxima) and hand-computed values,
// dropout's statistics and reproducibility, the error messages, and that backward accumulates into .grad.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "autograd/ops.h"
#include "layers/cpu/conv2d_geometry.h"
#include "layers/cpu/cpu_layer_kernels.h"
#include "layers/cpu/unrolled_conv2d_cpu.h"
#include "layers/cpu/winograd_conv2d_cpu.h"
#include "layers/functional.h"
#include "layers/reference/reference_layer_kernels.h"
#include "tensor/factory.h"
#include "tests/conv_cases.h"
#include "tests/test_util.h"

using namespace edat;
using edat::nn::Conv2dOptions;
using edat::nn::Pool2dOptions;
using edat::testing::all_close;
using edat::testing::throws_with;

namespace {

using Values = std::vector<double>;

Generator& test_generator() {
  static Generator gen(2024);
  return gen;
}
Tensor rand(const Shape& shape, DType dtype = DType::f32, double lo = -1, double hi = 1) {
  return uniform(shape, lo, hi, test_generator(), {.dtype = dtype});
}

// ---- convolution: the fast CPU kernels against the textbook ones (layers/reference/, the oracle) ----
using edat::testing::conv_cases;
using edat::testing::ConvCase;
using edat::testing::ConvReference;
using edat::testing::large_conv_cases;
using edat::testing::reference_conv;

class ConvTest : public ::testing::TestWithParam<DType> {
 protected:
  double tol() const { return GetParam() == DType::f32 ? 1e-5 : 1e-12; }

  // Forward and all three gradients of one case against the reference, with the column budget given (restored
  // afterwards even when the op throws). In f32 the absolute tolerance grows with the square root of the number of
  // terms in the longest sums (the filter gradient's N P Q), as rounding errors do.
  void check(const ConvCase& c, std::size_t budget) {
    struct BudgetGuard {
      std::size_t saved = nn::cpu_impl::conv2d_column_budget();
      ~BudgetGuard() { nn::cpu_impl::set_conv2d_column_budget(saved); }
    } guard;
    nn::cpu_impl::set_conv2d_column_budget(budget);
    Tensor x = rand(c.x, GetParam()).set_requires_grad();
    Tensor w = rand(c.w, GetParam()).set_requires_grad();
    Tensor b = c.bias ? rand({c.w[0]}, GetParam()).set_requires_grad() : Tensor();
    Tensor y = nn::conv2d(x, w, b, c.options);
    Tensor dy = rand(y.shape(), GetParam());
    y.backward(dy);
    const double atol = tol() * std::sqrt(static_cast<double>(y.numel() / y.size(1)));
    const ConvReference ref = reference_conv(x, w, b, dy, c.options);
    const std::string where = std::string(c.name) + ", budget " + std::to_string(budget);
    EXPECT_TRUE(all_close(y, ref.y, tol(), atol)) << where;
    EXPECT_TRUE(all_close(x.grad(), ref.dx, tol(), atol)) << where;
    EXPECT_TRUE(all_close(w.grad(), ref.dw, tol(), atol)) << where;
    if (c.bias) {
      EXPECT_TRUE(all_close(b.grad(), ref.db, tol(), atol)) << where;
    }
  }
};

TEST_P(ConvTest, MatchesDirectLoopsWholeBatchPerGemm) {
  for (const ConvCase& c : conv_cases()) check(c, std::size_t{1} << 30);
}

TEST_P(ConvTest, MatchesDirectLoopsOneSamplePerGemm) {
  for (const ConvCase& c : conv_cases()) check(c, 1);
}

TEST_P(ConvTest, MatchesDirectLoopsUnevenChunks) {
  // 16 KiB holds a few samples of most cases: chunks of several samples plus a shorter last one.
  for (const ConvCase& c : conv_cases()) check(c, std::size_t{16} << 10);
}

TEST_P(ConvTest, LayerSizedCasesWithTheDefaultBudget) {
  for (const ConvCase& c : large_conv_cases()) check(c, nn::cpu_impl::conv2d_column_budget());
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ConvTest, ::testing::Values(DType::f32, DType::f64),
                         [](const auto& param_info) { return std::string(dtype_name(param_info.param)); });

// ---- Winograd F(2x2, 3x3): which convolutions take it, and its error against the exact sums ----

// Makes `kernels` the CPU's for the scope (these tests are about the fast kernels, also when ctest runs this program
// a second time with EDAT_KERNELS=reference).
struct CpuKernelsScope {
  nn::LayerKernels& saved;
  explicit CpuKernelsScope(nn::LayerKernels& kernels) : saved(nn::use_cpu_layer_kernels(kernels)) {}
  ~CpuKernelsScope() { nn::use_cpu_layer_kernels(saved); }
};

// Restores the Winograd switch at scope exit.
struct WinogradGuard {
  bool saved = nn::cpu_impl::conv2d_winograd();
  ~WinogradGuard() { nn::cpu_impl::set_conv2d_winograd(saved); }
};

nn::cpu_impl::Geometry geometry_of(const ConvCase& c) {
  return nn::cpu_impl::Geometry(empty(c.x), empty(c.w), empty(c.y()), c.options);
}

TEST(Winograd, TakesThe3x3Stride1ConvolutionsWithEnoughChannelsAndTiles) {
  const WinogradGuard guard;
  nn::cpu_impl::set_conv2d_winograd(true);
  const Conv2dOptions pad1{.pad_h = 1, .pad_w = 1};
  auto applies = [](const ConvCase& c) { return nn::cpu_impl::winograd_applies(geometry_of(c)); };
  EXPECT_TRUE(applies({"ResNet layer1", {8, 64, 28, 28}, {64, 64, 3, 3}, false, pad1}));
  EXPECT_TRUE(applies({"one sample of 16 x 16 tiles", {1, 16, 32, 32}, {16, 16, 3, 3}, false, pad1}));
  EXPECT_FALSE(applies({"stride 2", {8, 64, 28, 28}, {64, 64, 3, 3}, false, {.stride_h = 2, .stride_w = 2}}));
  EXPECT_FALSE(applies({"dilation 2", {8, 64, 28, 28}, {64, 64, 3, 3}, false, {.dilation_h = 2, .dilation_w = 2}}));
  EXPECT_FALSE(applies({"1x1", {8, 64, 28, 28}, {64, 64, 1, 1}, false, {}}));
  EXPECT_FALSE(applies({"groups 2", {8, 64, 28, 28}, {64, 32, 3, 3}, false, {.pad_h = 1, .pad_w = 1, .groups = 2}}));
  EXPECT_FALSE(applies({"8 input channels", {8, 8, 28, 28}, {64, 8, 3, 3}, false, pad1}));
  EXPECT_FALSE(applies({"padding 3", {8, 64, 28, 28}, {64, 64, 3, 3}, false, {.pad_h = 3, .pad_w = 3}}));
  EXPECT_TRUE(applies({"64 tiles", {4, 64, 8, 8}, {64, 64, 3, 3}, false, pad1}));
  EXPECT_FALSE(applies({"48 tiles", {3, 64, 8, 8}, {64, 64, 3, 3}, false, pad1}));
  nn::cpu_impl::set_conv2d_winograd(false);
  EXPECT_FALSE(applies({"switched off", {8, 64, 28, 28}, {64, 64, 3, 3}, false, pad1}));
}

// The dense-layer path takes exactly the planes with fewer pixels than the kernel has taps (when the unrolled matrix
// stays small); conv_cases.h's three cases of such planes must be among them, so that ConvTest checks this path.
TEST(UnrolledConv, TakesPlanesSmallerThanTheKernel) {
  auto applies = [](const ConvCase& c) { return nn::cpu_impl::unrolled_applies(geometry_of(c)); };
  int taken = 0;
  for (const ConvCase& c : conv_cases()) taken += applies(c);
  EXPECT_EQ(taken, 3);
  const Conv2dOptions pad1{.pad_h = 1, .pad_w = 1};
  EXPECT_TRUE(applies({"ResNet-18 layer4 at 64 px", {32, 512, 2, 2}, {512, 512, 3, 3}, false, pad1}));
  EXPECT_FALSE(applies({"3x3 planes: as many pixels as taps", {32, 512, 3, 3}, {512, 512, 3, 3}, false, pad1}));
  EXPECT_FALSE(applies({"groups 2", {8, 64, 2, 2}, {64, 32, 3, 3}, false, {.pad_h = 1, .pad_w = 1, .groups = 2}}));
  EXPECT_FALSE(applies(
      {"2x3 plane at padding 2: 20 x 6 pixel pairs", {2, 4, 2, 3}, {4, 4, 3, 3}, false, {.pad_h = 2, .pad_w = 2}}));
}

// The largest |actual - exact| over all elements.
double max_error(const Tensor& actual, const Tensor& exact) {
  double worst = 0;
  for (double d : abs(actual.to(DType::f64) - exact.to(DType::f64)).to_vector<double>()) worst = std::max(worst, d);
  return worst;
}

// Forward and both gradients, Winograd against im2col, both against the exact sums (the reference kernels in f64):
// odd and even output sizes (half-used last tiles), padding 0, 1 and 2, rectangles, one sample and several, chunks
// of several samples and of one. In f32 Winograd's error stays within a small multiple of im2col's (its transforms
// add a few roundings); in f64 both are exact to 1e-12. The two paths must differ, or Winograd did not run.
TEST(Winograd, ErrorStaysWithinAFewTimesIm2colsOnEveryTileLayout) {
  const CpuKernelsScope fast_kernels(nn::cpu_impl::cpu_layer_kernels());
  const WinogradGuard guard;
  const std::vector<ConvCase> cases = {
      {"14x14 padding 1", {6, 32, 14, 14}, {24, 32, 3, 3}, true, {.pad_h = 1, .pad_w = 1}},
      {"odd 15x13 padding 1", {5, 16, 15, 13}, {16, 16, 3, 3}, false, {.pad_h = 1, .pad_w = 1}},
      {"unpadded 18x17", {4, 20, 18, 17}, {18, 20, 3, 3}, true, {}},
      {"padding 2x0", {5, 16, 11, 20}, {32, 16, 3, 3}, false, {.pad_h = 2, .pad_w = 0}},
      {"4x4 planes (ResNet layer4), 64 samples", {64, 32, 4, 4}, {32, 32, 3, 3}, false, {.pad_h = 1, .pad_w = 1}},
      {"3x3 planes, a half-used tile each, 64 samples", {64, 16, 3, 3}, {24, 16, 3, 3}, true, {.pad_h = 1, .pad_w = 1}},
      {"one sample, 32x32", {1, 16, 32, 32}, {16, 16, 3, 3}, true, {.pad_h = 1, .pad_w = 1}},
  };
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const ConvCase& c : cases) {
      for (std::size_t budget : {std::size_t{1} << 30, std::size_t{1}}) {  // whole batch, one sample per chunk
        struct BudgetGuard {
          std::size_t saved = nn::cpu_impl::conv2d_column_budget();
          ~BudgetGuard() { nn::cpu_impl::set_conv2d_column_budget(saved); }
        } budget_guard;
        nn::cpu_impl::set_conv2d_column_budget(budget);
        ASSERT_TRUE(nn::cpu_impl::winograd_applies(geometry_of(c))) << c.name;
        const Tensor x = rand(c.x, dtype), w = rand(c.w, dtype), dy = rand(c.y(), dtype);
        const Tensor b = c.bias ? rand({c.w[0]}, dtype) : Tensor();
        const ConvReference exact =
            reference_conv(x.to(DType::f64), w.to(DType::f64), b.defined() ? b.to(DType::f64) : Tensor(),
                           dy.to(DType::f64), c.options);
        Tensor y[2], dx[2], dw[2];
        for (int winograd = 0; winograd < 2; ++winograd) {
          nn::cpu_impl::set_conv2d_winograd(winograd == 1);
          Tensor xg = x.clone().set_requires_grad(), wg = w.clone().set_requires_grad();
          y[winograd] = nn::conv2d(xg, wg, b, c.options);
          y[winograd].backward(dy);
          dx[winograd] = xg.grad();
          dw[winograd] = wg.grad();
        }
        const std::string what = std::string(c.name) + " " + dtype_name(dtype) + ", budget " + std::to_string(budget);
        EXPECT_FALSE(edat::testing::bit_identical(y[1], y[0])) << what << ": Winograd did not run";
        EXPECT_FALSE(edat::testing::bit_identical(dw[1], dw[0])) << what << ": Winograd's filter gradient did not run";
        if (dtype == DType::f64) {
          EXPECT_LT(max_error(y[1], exact.y), 1e-12) << what;
          EXPECT_LT(max_error(dx[1], exact.dx), 1e-12) << what;
          EXPECT_LT(max_error(dw[1], exact.dw), 1e-10) << what;  // sums over N P Q terms
        } else {
          const double floor = 1e-6;  // a few f32 units at the outputs' magnitude
          EXPECT_LE(max_error(y[1], exact.y), std::max(4 * max_error(y[0], exact.y), floor)) << what << ": y";
          EXPECT_LE(max_error(dx[1], exact.dx), std::max(4 * max_error(dx[0], exact.dx), floor)) << what << ": dx";
          EXPECT_LE(max_error(dw[1], exact.dw), std::max(4 * max_error(dw[0], exact.dw), 1e-5)) << what << ": dw";
        }
      }
    }
  }
}

// The oracle's own checks, independent of any other kernel: its two backwards are the adjoints of its forward
// (<conv(x, w), dy> = <x, backward_data(dy)> = <w, backward_filter(dy, x)>), on every case.
TEST(ReferenceKernels, ConvBackwardsAreTheAdjointsOfTheForward) {
  nn::LayerKernels& oracle = nn::reference::reference_layer_kernels();
  auto dot = [](const Tensor& a, const Tensor& b) { return sum(a * b).item(); };
  for (const ConvCase& c : conv_cases()) {
    const Options f64{.dtype = DType::f64};
    Tensor x = rand(c.x, DType::f64), w = rand(c.w, DType::f64);
    Tensor y = nn::conv2d(x, w, Tensor(), c.options);  // only for the output shape
    oracle.conv2d_forward(x, w, Tensor(), y, c.options);
    Tensor dy = rand(y.shape(), DType::f64), dx = empty(c.x, f64), dw = empty(c.w, f64);
    oracle.conv2d_backward_data(dy, w, dx, c.options);
    oracle.conv2d_backward_filter(dy, x, dw, c.options);
    EXPECT_NEAR(dot(y, dy), dot(x, dx), 1e-10 * (1 + std::abs(dot(y, dy)))) << shape_str(c.x);
    EXPECT_NEAR(dot(y, dy), dot(w, dw), 1e-10 * (1 + std::abs(dot(y, dy)))) << shape_str(c.x);
  }
}

// The reference batch-norm backward (through dxhat, dvar, dmean) against central differences of its own forward.
// use_cpu_layer_kernels() swaps the CPU's kernels in the running process (the CUDA tests put the oracle there): the
// ops then give the reference's very bits, and the fast kernels come back when they are put back.
TEST(ReferenceKernels, UseCpuLayerKernelsSwapsThemIn) {
  const CpuKernelsScope start_from_the_fast_kernels(nn::cpu_impl::cpu_layer_kernels());
  const ConvCase& c = large_conv_cases().at(2);
  const Tensor x = rand(c.x), w = rand(c.w);
  const Tensor dy = rand(c.y());
  const Tensor expected = reference_conv(x, w, Tensor(), dy, c.options).y;
  nn::LayerKernels& fast = nn::use_cpu_layer_kernels(nn::reference::reference_layer_kernels());
  EXPECT_EQ(&nn::layer_kernels(Device::cpu()), &nn::reference::reference_layer_kernels());
  const Tensor by_reference = nn::conv2d(x, w, Tensor(), c.options);
  EXPECT_EQ(&nn::use_cpu_layer_kernels(fast), &nn::reference::reference_layer_kernels());
  const Tensor by_fast = nn::conv2d(x, w, Tensor(), c.options);
  EXPECT_TRUE(edat::testing::bit_identical(by_reference, expected));
  EXPECT_FALSE(edat::testing::bit_identical(by_fast, expected)) << "the fast kernels sum in another order";
  EXPECT_EQ(&nn::layer_kernels(Device::cpu()), &fast);
}

TEST(ReferenceKernels, BatchNormBackwardIsTheDerivativeOfItsForward) {
  nn::LayerKernels& oracle = nn::reference::reference_layer_kernels();
  const Options f64{.dtype = DType::f64};
  const std::int64_t C = 2;
  Tensor x = rand({3, C, 2, 2}, DType::f64, -1, 3), w = rand({C}, DType::f64, 0.5, 2), b = rand({C}, DType::f64);
  Tensor dy = rand(x.shape(), DType::f64);
  Tensor save_mean = empty({C}, f64), save_invstd = empty({C}, f64);
  auto loss = [&](const Tensor& at_x, const Tensor& at_w, const Tensor& at_b) {  // sum(y dy)
    Tensor y = empty(x.shape(), f64), rm = zeros({C}, f64), rv = ones({C}, f64);
    oracle.batch_norm_forward_train(at_x, at_w, at_b, y, rm, rv, save_mean, save_invstd, 0.1, 1e-5);
    return sum(y * dy).item();
  };
  loss(x, w, b);  // leaves the saved statistics of x
  Tensor dx = empty(x.shape(), f64), dw = empty({C}, f64), db = empty({C}, f64);
  oracle.batch_norm_backward_train(dy, x, w, save_mean, save_invstd, dx, dw, db, 1e-5);
  const double eps = 1e-6;
  auto numeric = [&](Tensor& t, std::int64_t i) {
    Tensor plus = t.clone(), minus = t.clone();
    plus.data<double>()[i] += eps, minus.data<double>()[i] -= eps;
    const bool is_x = &t == &x, is_w = &t == &w;
    return (loss(is_x ? plus : x, is_w ? plus : w, !is_x && !is_w ? plus : b) -
            loss(is_x ? minus : x, is_w ? minus : w, !is_x && !is_w ? minus : b)) /
           (2 * eps);
  };
  for (std::int64_t i = 0; i < x.numel(); ++i) EXPECT_NEAR(dx.data<double>()[i], numeric(x, i), 1e-7) << "dx " << i;
  for (std::int64_t c = 0; c < C; ++c) {
    EXPECT_NEAR(dw.data<double>()[c], numeric(w, c), 1e-7) << "dweight " << c;
    EXPECT_NEAR(db.data<double>()[c], numeric(b, c), 1e-7) << "dbias " << c;
  }
}

TEST(Conv2d, HandComputed) {
  // A 3x3 input and a 2x2 kernel of ones: each output is the sum of a 2x2 block, plus the bias.
  Tensor x = arange(1, 10, 1).untracked_view({1, 1, 3, 3});
  Tensor y = nn::conv2d(x, ones({1, 1, 2, 2}), full({1}, 0.5), {});
  EXPECT_TRUE(all_close(y, {12.5, 16.5, 24.5, 28.5}, 0));
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
}

// ---- batch norm ----
TEST(BatchNorm, TrainingNormalisesAndUpdatesRunningStatistics) {
  const std::int64_t N = 4, C = 3, H = 5, W = 6, m = N * H * W;
  Tensor x = rand({N, C, H, W}, DType::f32, -1, 3);
  Tensor weight = rand({C}, DType::f32, 0.5, 2), bias = rand({C});
  Tensor running_mean = zeros({C}), running_var = ones({C});
  Tensor y = nn::batch_norm(x, weight, bias, running_mean, running_var, true, 0.1, 1e-5);
  const Values xv = x.to_vector<double>(), wv = weight.to_vector<double>(), bv = bias.to_vector<double>();
  Values expected(xv.size()), mean(C), var(C);
  for (std::int64_t c = 0; c < C; ++c) {
    double sum = 0, squares = 0;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < H * W; ++i) sum += xv[static_cast<std::size_t>((n * C + c) * H * W + i)];
    mean[c] = sum / m;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < H * W; ++i)
        squares += std::pow(xv[static_cast<std::size_t>((n * C + c) * H * W + i)] - mean[c], 2);
    var[c] = squares / m;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < H * W; ++i) {
        const auto k = static_cast<std::size_t>((n * C + c) * H * W + i);
        expected[k] = (xv[k] - mean[c]) / std::sqrt(var[c] + 1e-5) * wv[c] + bv[c];
      }
  }
  EXPECT_TRUE(all_close(y, expected, 1e-5, 1e-5));
  // running_mean = 0.9 * 0 + 0.1 mean, running_var = 0.9 * 1 + 0.1 var m / (m - 1) (unbiased).
  Values rm(C), rv(C);
  for (std::int64_t c = 0; c < C; ++c) rm[c] = 0.1 * mean[c], rv[c] = 0.9 + 0.1 * var[c] * m / (m - 1);
  EXPECT_TRUE(all_close(running_mean, rm, 1e-5, 1e-7));
  EXPECT_TRUE(all_close(running_var, rv, 1e-5, 1e-7));
  // A second step moves them again by the momentum.
  nn::batch_norm(x, weight, bias, running_mean, running_var, true, 0.1, 1e-5);
  for (std::int64_t c = 0; c < C; ++c)
    rm[c] = 0.9 * rm[c] + 0.1 * mean[c], rv[c] = 0.9 * rv[c] + 0.1 * var[c] * m / (m - 1);
  EXPECT_TRUE(all_close(running_mean, rm, 1e-5, 1e-7));
  EXPECT_TRUE(all_close(running_var, rv, 1e-5, 1e-7));
}

// Every output of both training-mode kernels (y, running statistics, saved statistics, dx, dweight, dbias) against
// the reference, which computes the backward through its explicit terms dxhat, dvar and dmean.
TEST(BatchNorm, FastKernelsMatchTheReference) {
  const char* names[] = {"y", "running_mean", "running_var", "save_mean", "save_invstd", "dx", "dweight", "dbias"};
  for (DType dtype : {DType::f32, DType::f64}) {
    const double tol = dtype == DType::f32 ? 1e-5 : 1e-12;
    const std::int64_t C = 3;
    const Options like{.dtype = dtype};
    Tensor x = rand({4, C, 5, 6}, dtype, -1, 3), w = rand({C}, dtype, 0.5, 2), b = rand({C}, dtype);
    Tensor dy = rand(x.shape(), dtype);
    auto run = [&](nn::LayerKernels& kernels) {
      std::vector<Tensor> out = {empty(x.shape(), like), zeros({C}, like),       ones({C}, like),  empty({C}, like),
                                 empty({C}, like),       empty(x.shape(), like), empty({C}, like), empty({C}, like)};
      kernels.batch_norm_forward_train(x, w, b, out[0], out[1], out[2], out[3], out[4], 0.1, 1e-5);
      kernels.batch_norm_backward_train(dy, x, w, out[3], out[4], out[5], out[6], out[7], 1e-5);
      return out;
    };
    const std::vector<Tensor> fast = run(nn::cpu_impl::cpu_layer_kernels());
    const std::vector<Tensor> reference = run(nn::reference::reference_layer_kernels());
    for (std::size_t i = 0; i < fast.size(); ++i)
      EXPECT_TRUE(all_close(fast[i], reference[i], tol, tol)) << names[i] << " in " << dtype_name(dtype);
  }
}

TEST(BatchNorm, EvaluationUsesRunningStatistics) {
  Tensor x = rand({2, 3, 2, 2});
  Tensor weight = from_vector({1, 2, 0.5}), bias = from_vector({0, -1, 3});
  Tensor running_mean = from_vector({0.5, -0.25, 1}), running_var = from_vector({1, 4, 0.25});
  Tensor y = nn::batch_norm(x, weight, bias, running_mean, running_var, false, 0.1, 0.0625);
  const Values xv = x.to_vector<double>();
  const double w[] = {1, 2, 0.5}, b[] = {0, -1, 3}, rm[] = {0.5, -0.25, 1}, rv[] = {1, 4, 0.25};
  Values expected(xv.size());
  for (std::size_t k = 0; k < xv.size(); ++k) {
    const std::size_t c = k / 4 % 3;
    expected[k] = (xv[k] - rm[c]) / std::sqrt(rv[c] + 0.0625) * w[c] + b[c];
  }
  EXPECT_TRUE(all_close(y, expected, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(running_mean, {0.5, -0.25, 1}, 0));  // untouched
  EXPECT_TRUE(all_close(running_var, {1, 4, 0.25}, 0));
}

TEST(BatchNorm, TwoDimensionalInputNormalisesPerFeature) {
  Tensor x = from_vector({1, 10, 3, 30}, {2, 2});
  Tensor y = nn::batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 0);
  EXPECT_TRUE(all_close(y, {-1, -1, 1, 1}, 1e-6));
}

// ---- pooling ----
Tensor pool_input() {
  return from_vector({1, 5, 2, 0,  //
                      3, 4, 8, 7,  //
                      9, 6, 1, 2,  //
                      0, 2, 3, 3},
                     {1, 1, 4, 4});
}

TEST(MaxPool, TwoByTwoValuesAndIndices) {
  Tensor x = pool_input().set_requires_grad();
  Tensor y = nn::max_pool2d(x, {});
  EXPECT_TRUE(all_close(y, {5, 8, 9, 3}, 0));
  sum(y).backward();
  // The last window holds 3 twice: the first (row 3, column 2 = position 14) takes the gradient.
  EXPECT_TRUE(all_close(x.grad(), {0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0}, 0));
}

TEST(MaxPool, ResNetStemOverlappingWindows) {
  Tensor x = pool_input().set_requires_grad();
  const Pool2dOptions stem{.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
  Tensor y = nn::max_pool2d(x, stem);
  EXPECT_TRUE(all_close(y, {5, 8, 9, 8}, 0));
  sum(y).backward();
  EXPECT_TRUE(all_close(x.grad(), {0, 1, 0, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0}, 0));  // 8 wins two windows
}

TEST(MaxPool, PaddingIsMinusInfinity) {
  Tensor x = full({1, 1, 2, 2}, -5);
  Tensor y = nn::max_pool2d(x, {.kernel_h = 2, .kernel_w = 2, .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1});
  EXPECT_TRUE(all_close(y, Values(9, -5.0), 0));
}

TEST(MaxPool, OutputSizeRule) {
  auto out = [](std::int64_t size, Pool2dOptions o) { return nn::max_pool2d(zeros({1, 1, size, size}), o).size(2); };
  EXPECT_EQ(out(6, {.kernel_h = 3, .kernel_w = 3}), 2);
  EXPECT_EQ(out(6, {.kernel_h = 3, .kernel_w = 3, .ceil_mode = true}), 3);
  // ceil_mode's extra window would start in the right padding: dropped.
  EXPECT_EQ(out(5, {.pad_h = 1, .pad_w = 1, .ceil_mode = true}), 3);
  EXPECT_EQ(out(5, {.pad_h = 1, .pad_w = 1}), 3);
  EXPECT_EQ(out(112, {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1}), 56);
  EXPECT_EQ(out(7, {.kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2, .dilation_h = 2, .dilation_w = 2}), 3);
}

// Window maxima and their argmax against the reference kernel, then the backward through the same indices.
void check_max_pool_against_loops(const Shape& shape, const Pool2dOptions& o) {
  Tensor x = rand(shape, DType::f64).set_requires_grad();
  Tensor y = nn::max_pool2d(x, o);
  Tensor expected = empty(y.shape(), {.dtype = DType::f64}), indices = empty(y.shape(), {.dtype = DType::i64});
  nn::reference::reference_layer_kernels().max_pool2d_forward(x.detach(), expected, indices, o);
  EXPECT_TRUE(all_close(y, expected, 0)) << shape_str(shape);
  Tensor dy = rand(y.shape(), DType::f64), dx = zeros(shape, {.dtype = DType::f64});
  nn::reference::reference_layer_kernels().max_pool2d_backward(dy, indices, dx, o);
  y.backward(dy);
  EXPECT_TRUE(all_close(x.grad(), dx, 0)) << shape_str(shape);
}

TEST(MaxPool, MatchesLoops) {
  check_max_pool_against_loops({2, 3, 9, 8}, {.kernel_h = 3,
                                              .kernel_w = 2,
                                              .stride_h = 2,
                                              .stride_w = 1,
                                              .pad_h = 1,
                                              .pad_w = 1,
                                              .dilation_h = 2,
                                              .dilation_w = 3});
  check_max_pool_against_loops(
      {1, 2, 10, 11},
      {.kernel_h = 3, .kernel_w = 3, .stride_h = 3, .stride_w = 2, .pad_h = 1, .pad_w = 0, .ceil_mode = true});
  check_max_pool_against_loops({2, 4, 56, 56},
                               {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1});
}

// The fast kernel's separable passes must pick the reference's position when values tie, and its value and position
// with -inf and NaN (the first maximum in row-major window order, or the last NaN), in both dtypes, with and without
// the indices; the inputs draw from {0, 1, -inf, NaN} so that every window holds ties.
TEST(MaxPool, TiesInfinitiesAndNansPickTheReferencePositions) {
  const std::vector<Pool2dOptions> options = {
      {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1},
      {.kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2},
      {.kernel_h = 3, .kernel_w = 2, .stride_h = 1, .stride_w = 3, .pad_h = 1, .pad_w = 1, .ceil_mode = true},
      {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 1, .pad_h = 1, .dilation_h = 2, .dilation_w = 2}};
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const Shape shape{2, 3, 9, 11};
  std::vector<double> values(static_cast<std::size_t>(numel(shape)));
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::size_t r = (i * 2654435761u) % 23;  // a fixed scramble: mostly 0 and 1, some -inf and NaN
    values[i] = r < 9 ? 0.0 : r < 19 ? 1.0 : r < 21 ? -inf : nan;
  }
  for (DType dtype : {DType::f32, DType::f64}) {
    const Tensor x = from_vector(values, shape, {.dtype = dtype});
    for (const Pool2dOptions& o : options) {
      const Shape y_shape = nn::max_pool2d(x, o).shape();
      Tensor y = empty(y_shape, {.dtype = dtype}), y_reference = empty(y_shape, {.dtype = dtype});
      Tensor indices = empty(y_shape, {.dtype = DType::i64}), indices_reference = empty(y_shape, {.dtype = DType::i64});
      nn::cpu_impl::cpu_layer_kernels().max_pool2d_forward(x, y, indices, o);
      nn::reference::reference_layer_kernels().max_pool2d_forward(x, y_reference, indices_reference, o);
      EXPECT_TRUE(edat::testing::bit_identical(y, y_reference)) << "kernel " << o.kernel_h << "x" << o.kernel_w;
      EXPECT_TRUE(edat::testing::bit_identical(indices, indices_reference))
          << "kernel " << o.kernel_h << "x" << o.kernel_w;
      Tensor no_indices, y_alone = empty(y_shape, {.dtype = dtype});
      nn::cpu_impl::cpu_layer_kernels().max_pool2d_forward(x, y_alone, no_indices, o);
      EXPECT_TRUE(edat::testing::bit_identical(y_alone, y_reference));
    }
  }
}

TEST(AdaptiveAvgPool, GlobalIsTheMean) {
  Tensor x = rand({2, 3, 4, 5});
  Tensor y = nn::adaptive_avg_pool2d(x, 1, 1);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 1, 1}));
  EXPECT_TRUE(all_close(y.untracked_view({2, 3}), mean(x, {2, 3}), 1e-6, 1e-7));
}

TEST(AdaptiveAvgPool, UnevenWindows) {
  // 5 rows into 3: [0, 2), [1, 4), [3, 5); 7 columns into 2: [0, 4), [3, 7).
  Tensor x = arange(0, 35, 1, {.dtype = DType::f64}).untracked_view({1, 1, 5, 7});
  Tensor y = nn::adaptive_avg_pool2d(x, 3, 2);
  auto window = [](int h0, int h1, int w0, int w1) {
    double s = 0;
    for (int h = h0; h < h1; ++h)
      for (int w = w0; w < w1; ++w) s += h * 7 + w;
    return s / ((h1 - h0) * (w1 - w0));
  };
  EXPECT_TRUE(all_close(y,
                        {window(0, 2, 0, 4), window(0, 2, 3, 7), window(1, 4, 0, 4), window(1, 4, 3, 7),
                         window(3, 5, 0, 4), window(3, 5, 3, 7)},
                        1e-15));
  Tensor same = rand({2, 2, 7, 7});
  EXPECT_TRUE(all_close(nn::adaptive_avg_pool2d(same, 7, 7), same, 0));  // identity
}

// ---- linear and losses ----
TEST(Linear, MatchesLoops) {
  Tensor x = from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor w = from_vector({1, 0, -1, 0.5, 0.5, 0.5}, {2, 3});
  Tensor y = nn::linear(x, w, from_vector({10, 20}));
  EXPECT_TRUE(all_close(y, {1 - 3 + 10, 3 + 20, 4 - 6 + 10, 7.5 + 20}, 1e-7));
  EXPECT_EQ(nn::linear(rand({4, 2, 3}), w, Tensor()).shape(), (Shape{4, 2, 2}));
}

TEST(Losses, MeanReductions) {
  Tensor p = from_vector({1, 2, 3, 4}), t = from_vector({2, 2, 1, 8});
  EXPECT_DOUBLE_EQ(nn::l1_loss(p, t).item(), (1 + 0 + 2 + 4) / 4.0);
  EXPECT_DOUBLE_EQ(nn::mse_loss(p, t).item(), (1 + 0 + 4 + 16) / 4.0);
}

// ---- dropout ----
TEST(Dropout, ZeroesAboutPAndScalesTheRest) {
  Tensor x = full({200, 500}, 2.0);
  Generator generator(11);
  Tensor y = nn::dropout(x, 0.3, true, generator);
  EXPECT_EQ(generator.offset(), 100000u);  // one draw per element
  const Values v = y.to_vector<double>();
  const auto zeros_count = std::count(v.begin(), v.end(), 0.0);
  EXPECT_NEAR(static_cast<double>(zeros_count) / static_cast<double>(v.size()), 0.3, 0.01);
  for (double value : v) ASSERT_TRUE(value == 0.0 || std::abs(value - 2.0 / 0.7) < 1e-6) << value;
  // The mean is kept in expectation.
  EXPECT_NEAR(mean(y).item(), 2.0, 0.03);
}

TEST(Dropout, SameStateSameMask) {
  Tensor x = rand({3, 7, 5});
  Generator a(5), b(5);
  EXPECT_TRUE(all_close(nn::dropout(x, 0.5, true, a), nn::dropout(x, 0.5, true, b), 0));
  // The generator moved on: its next mask differs from the first.
  Generator fresh(5);
  EXPECT_FALSE(all_close(nn::dropout(x, 0.5, true, a), nn::dropout(x, 0.5, true, fresh), 0));
}

TEST(Dropout, IdentityInEvaluationOrWithPZero) {
  Tensor x = rand({4, 4});
  Generator generator(3);
  EXPECT_TRUE(nn::dropout(x, 0.5, false, generator).is_same(x));
  EXPECT_TRUE(nn::dropout(x, 0.0, true, generator).is_same(x));
  EXPECT_EQ(generator.offset(), 0u);
}

// ---- errors ----
TEST(LayerErrors, Conv2d) {
  Tensor x = zeros({2, 4, 8, 8});
  EXPECT_TRUE(throws_with(
      [&] {
        nn::conv2d(x, zeros({8, 3, 3, 3}), Tensor(), {});
      },
      {"conv2d: input f32[2, 4, 8, 8] on cpu has 4 channels, weight f32[8, 3, 3, 3] expects 3 "
       "(groups 1)"}));
  EXPECT_TRUE(throws_with(
      [&] {
        nn::conv2d(x, zeros({8, 3, 3, 3}), Tensor(), {.groups = 2});
      },
      {"expects 6 (groups 2)"}));
  EXPECT_TRUE(throws_with(
      [&] {
        nn::conv2d(x, zeros({9, 2, 3, 3}), Tensor(), {.groups = 2});
      },
      {"groups 2 does not divide the 9 output channels", "f32[9, 2, 3, 3]"}));
  EXPECT_TRUE(throws_with(
      [&] {
        nn::conv2d(zeros({4, 8, 8}), zeros({8, 4, 3, 3}), Tensor(), {});
      },
      {"conv2d", "4-D input", "f32[4, 8, 8]"}));
  EXPECT_TRUE(throws_with(
      [&] {
        nn::conv2d(x, zeros({8, 4, 3, 3}, {.dtype = DType::f64}), Tensor(), {});
      },
      {"conv2d: dtype mismatch", "f32[2, 4, 8, 8]", "f64[8, 4, 3, 3]"}));
  EXPECT_TRUE(throws_with(
      [&] {
        nn::conv2d(x, zeros({8, 4, 3, 3}), zeros({4}), {});
      },
      {"conv2d: bias f32[4] on cpu", "f32[8, 4, 3, 3]"}));
  EXPECT_TRUE(throws_with(
      [&] {
        nn::conv2d(x, zeros({8, 4, 9, 3}), Tensor(), {});
      },
      {"conv2d: input f32[2, 4, 8, 8] on cpu is too small", "output would be 0 x 6"}));
  EXPECT_TRUE(throws_with(
      [&] {
        nn::conv2d(x, zeros({8, 4, 3, 3}), Tensor(), {.stride_h = 0});
      },
      {"conv2d", "stride (0, 1)"}));
}

TEST(LayerErrors, BatchNormPoolingLinearDropoutLosses) {
  Tensor x = zeros({2, 3, 4, 4});
  EXPECT_TRUE(throws_with([&] { nn::batch_norm(x, ones({4}), zeros({3}), zeros({3}), ones({3}), true); },
                          {"batch_norm: weight f32[4] on cpu", "input f32[2, 3, 4, 4]"}));
  EXPECT_TRUE(throws_with([&] { nn::batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), false); },
                          {"batch_norm", "running_mean and running_var"}));
  EXPECT_TRUE(throws_with(
      [&] {
        nn::batch_norm(zeros({1, 3, 1, 1}), Tensor(), Tensor(), Tensor(), Tensor(), true);
      },
      {"batch_norm", "more than one value per channel"}));
  EXPECT_TRUE(throws_with([&] { nn::max_pool2d(x, {.kernel_h = 2, .kernel_w = 2, .pad_h = 2}); },
                          {"max_pool2d: padding (2, 0)", "half the kernel"}));
  EXPECT_TRUE(throws_with([&] { nn::max_pool2d(x, {.kernel_h = 5, .kernel_w = 5}); },
                          {"max_pool2d: input f32[2, 3, 4, 4] on cpu is too small"}));
  EXPECT_TRUE(throws_with([&] { nn::adaptive_avg_pool2d(x, 0, 2); }, {"adaptive_avg_pool2d", "0 x 2"}));
  EXPECT_TRUE(throws_with(
      [&] {
        nn::linear(zeros({2, 5}), zeros({3, 4}), Tensor());
      },
      {"linear: input f32[2, 5] on cpu has 5 features, weight f32[3, 4] on cpu expects 4"}));
  Generator generator;
  EXPECT_TRUE(throws_with([&] { nn::dropout(x, 1.0, true, generator); }, {"dropout: p must be in [0, 1), got 1"}));
  EXPECT_TRUE(throws_with([&] { nn::dropout(x, -0.1, true, generator); }, {"dropout", "-0.1"}));
  EXPECT_TRUE(throws_with(
      [&] {
        nn::l1_loss(zeros({4, 1}), zeros({4}));
      },
      {"l1_loss: shapes differ: prediction f32[4, 1] on cpu vs target f32[4] on cpu"}));
  EXPECT_TRUE(
      throws_with([&] { nn::mse_loss(zeros({4}), zeros({4}, {.dtype = DType::f64})); }, {"mse_loss: dtype mismatch"}));
}

// ---- backward accumulates ----
// Running forward + backward twice sums the gradients into .grad: each ends up twice a single pass's.
void expect_accumulates(const std::function<Tensor(const std::vector<Tensor>&)>& fn, std::vector<Tensor> params) {
  sum(fn(params)).backward();
  std::vector<Tensor> once;
  for (Tensor& p : params) once.push_back(p.grad().clone());
  sum(fn(params)).backward();
  for (std::size_t i = 0; i < params.size(); ++i)
    EXPECT_TRUE(all_close(params[i].grad(), once[i] * 2.0, 1e-6, 1e-6)) << "parameter " << i;
}

TEST(BackwardAccumulates, EveryLayer) {
  auto leaf = [](const Shape& shape) { return rand(shape).set_requires_grad(); };
  expect_accumulates(
      [](const std::vector<Tensor>& p) { return nn::conv2d(p[0], p[1], p[2], {.pad_h = 1, .pad_w = 1}) * p[0]; },
      {leaf({2, 3, 5, 5}), leaf({3, 3, 3, 3}), leaf({3})});
  Tensor rm = zeros({3}), rv = ones({3});
  expect_accumulates(
      [&](const std::vector<Tensor>& p) { return nn::batch_norm(p[0], p[1], p[2], rm, rv, true) * p[0]; },
      {leaf({2, 3, 4, 4}), leaf({3}), leaf({3})});
  expect_accumulates([](const std::vector<Tensor>& p) { return nn::linear(p[0], p[1], p[2]) * 3.0; },
                     {leaf({4, 3}), leaf({2, 3}), leaf({2})});
  expect_accumulates(
      [](const std::vector<Tensor>& p) {
        return nn::adaptive_avg_pool2d(
            nn::max_pool2d(p[0], {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1}),
            2, 3);
      },
      {leaf({2, 2, 8, 9})});
}

}  // namespace
