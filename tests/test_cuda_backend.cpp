// The CUDA backend against the CPU backend: every Backend operation called directly, every op of autograd/ops.h
// forward and backward (gradients of sum(op(x) * w) on both devices), the caching allocator's counters, pinned
// copies and the random stream. Every test skips when the machine has no CUDA device.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "tensor/backend.h"
#include "tensor/factory.h"
#if EDAT_HAS_CUDA
#include <cublas_v2.h>

#include <fstream>
#include <iterator>

#include "tensor/cuda/cuda_allocator.h"
#endif
#include "tests/test_util.h"

using namespace edat;
using edat::testing::all_close;
using edat::testing::bit_identical;
using edat::testing::throws_with;

namespace {

const Device kCuda = Device::cuda(0);
constexpr std::size_t kMiB = std::size_t{1} << 20;

// The CUDA result `gpu` matches the CPU result `cpu`: same shape and dtype, a CUDA tensor, and every element within
// rtol of the CPU's, relative to the element or (for results near zero) to 1/10 of the largest CPU magnitude.
::testing::AssertionResult matches_cpu(const Tensor& gpu, const Tensor& cpu, double rtol = 1e-5) {
  if (!gpu.defined() || !cpu.defined()) return ::testing::AssertionFailure() << "an undefined tensor";
  if (!gpu.device().is_cuda()) return ::testing::AssertionFailure() << "expected a CUDA tensor, got " << gpu.desc();
  if (!cpu.device().is_cpu()) return ::testing::AssertionFailure() << "expected a CPU tensor, got " << cpu.desc();
  if (gpu.dtype() != cpu.dtype()) return ::testing::AssertionFailure() << gpu.desc() << " vs " << cpu.desc();
  double scale = 1;
  for (double v : cpu.to_vector<double>()) scale = std::isfinite(v) ? std::max(scale, std::abs(v)) : scale;
  return all_close(gpu.cpu(), cpu, rtol, 0.1 * rtol * scale);
}

Tensor random_tensor(const Shape& shape, double lo = -2, double hi = 2, DType dtype = DType::f32,
                     std::uint64_t seed = 7) {
  Generator generator(seed + static_cast<std::uint64_t>(numel(shape)));
  return uniform(shape, lo, hi, generator, {.dtype = dtype});
}

// ---- Backend operations, called directly ----

struct UnaryCase {
  UnaryOp op;
  double scalar, lo, hi;  // the scalar argument and the input range (positive for log, sqrt, pow)
};

TEST(CudaBackendOps, UnaryMatchesCpu) {
  EDAT_REQUIRE_CUDA();
  const std::vector<UnaryCase> cases = {
      {UnaryOp::neg, 0, -2, 2},        {UnaryOp::abs, 0, -2, 2},          {UnaryOp::sign, 0, -2, 2},
      {UnaryOp::exp, 0, -5, 5},        {UnaryOp::log, 0, 0.01, 10},       {UnaryOp::sqrt, 0, 0, 10},
      {UnaryOp::relu, 0, -2, 2},       {UnaryOp::add_scalar, 1.5, -2, 2}, {UnaryOp::mul_scalar, -0.3, -2, 2},
      {UnaryOp::pow_scalar, 2, -2, 2}, {UnaryOp::pow_scalar, 0.5, 0, 4},  {UnaryOp::pow_scalar, -1.5, 0.1, 4},
      {UnaryOp::sigmoid, 0, -30, 30},  {UnaryOp::log_sigmoid, 0, -60, 60},  {UnaryOp::relu6, 0, -3, 9},
  };
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const UnaryCase& c : cases) {
      for (std::int64_t n : {1, 1000, 1 << 20}) {
        const Tensor x = random_tensor({n}, c.lo, c.hi, dtype);
        Tensor out_cpu = empty_like(x);
        backend(Device::cpu()).unary(c.op, x, out_cpu, c.scalar);
        const Tensor xg = x.cuda();
        Tensor out_gpu = empty(x.shape(), {.dtype = dtype, .device = kCuda});
        backend(kCuda).unary(c.op, xg, out_gpu, c.scalar);
        EXPECT_TRUE(matches_cpu(out_gpu, out_cpu)) << "op " << static_cast<int>(c.op) << " on " << x.desc();
        Tensor in_place = x.cuda();  // out aliasing the input
        backend(kCuda).unary(c.op, in_place, in_place, c.scalar);
        EXPECT_TRUE(matches_cpu(in_place, out_cpu)) << "in place, op " << static_cast<int>(c.op);
      }
    }
  }
}

TEST(CudaBackendOps, SignOfZeroAndReluOfZeroAndNaN) {
  EDAT_REQUIRE_CUDA();
  const Tensor x = from_vector({-3, -0.0, 0, 2, -1e-30, NAN, INFINITY, -INFINITY, 7}, {9});
  for (UnaryOp op : {UnaryOp::sign, UnaryOp::relu, UnaryOp::relu6, UnaryOp::abs}) {
    Tensor out_cpu = empty_like(x);
    backend(Device::cpu()).unary(op, x, out_cpu, 0);
    Tensor out_gpu = empty({9}, {.device = kCuda});
    backend(kCuda).unary(op, x.cuda(), out_gpu, 0);
    EXPECT_TRUE(bit_identical(out_gpu, out_cpu)) << "op " << static_cast<int>(op);
  }
}

const std::vector<std::pair<Shape, Shape>> kBroadcastShapes = {
    {{3, 4}, {3, 4}},
    {{2, 3, 4, 5}, {1, 3, 1, 1}},
    {{3}, {2, 3}},
    {{4, 1}, {1, 5}},
    {{}, {2, 3}},
    {{2, 3}, {}},
    {{64, 32, 40}, {32, 1}},
    {{1 << 20}, {1 << 20}},
    {{8, 1, 6, 1}, {7, 1, 5}},
    {{2, 1, 3, 1, 4}, {5, 1, 6, 1}},
};

TEST(CudaBackendOps, BinaryMatchesCpuWithBroadcasting) {
  EDAT_REQUIRE_CUDA();
  const std::vector<BinaryOp> ops = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div,
                                     BinaryOp::relu_backward, BinaryOp::relu6_backward, BinaryOp::greater};
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const auto& [sa, sb] : kBroadcastShapes) {
      const Tensor a = random_tensor(sa, -2, 2, dtype, 1), b = random_tensor(sb, -2, 2, dtype, 2);
      const Shape out_shape = broadcast_shapes(sa, sb, "test");
      for (BinaryOp op : ops) {
        const Tensor bb = op == BinaryOp::div ? random_tensor(sb, 0.5, 2, dtype, 3) : b;  // keep divisors away from 0
        Tensor out_cpu = empty(out_shape, {.dtype = dtype});
        backend(Device::cpu()).binary(op, a, bb, out_cpu);
        Tensor out_gpu = empty(out_shape, {.dtype = dtype, .device = kCuda});
        backend(kCuda).binary(op, a.cuda(), bb.cuda(), out_gpu);
        EXPECT_TRUE(matches_cpu(out_gpu, out_cpu))
            << "op " << static_cast<int>(op) << " on " << a.desc() << " and " << bb.desc();
        if (sa == out_shape) {  // out aliasing a
          Tensor in_place = a.cuda();
          backend(kCuda).binary(op, in_place, bb.cuda(), in_place);
          EXPECT_TRUE(matches_cpu(in_place, out_cpu)) << "in place, op " << static_cast<int>(op);
        }
      }
    }
  }
}

TEST(CudaBackendOps, ExpandMatchesCpu) {
  EDAT_REQUIRE_CUDA();
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{1, 3, 1}, {2, 3, 4}}, {{4}, {5, 4}}, {{}, {7}}, {{3, 1}, {3, 1}}, {{64, 1}, {16, 64, 300}}, {{1}, {1 << 20}}};
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const auto& [from, to] : cases) {
      const Tensor x = random_tensor(from, -2, 2, dtype);
      Tensor out_cpu = empty(to, {.dtype = dtype});
      backend(Device::cpu()).expand(x, out_cpu);
      Tensor out_gpu = empty(to, {.dtype = dtype, .device = kCuda});
      backend(kCuda).expand(x.cuda(), out_gpu);
      EXPECT_TRUE(bit_identical(out_gpu, out_cpu)) << x.desc() << " to " << shape_str(to);
    }
  }
}

// Layouts covering both kernel shapes, with and without splitting the reduction.
const std::vector<ReduceLayout> kLayouts = {
    {1, 1, 1},      {1, 5, 1},     {3, 5, 1},     {1000, 3, 1}, {7, 1000, 1},
    {1, 100000, 1}, {1, 1000, 7},  {2, 4096, 3},  {64, 1, 100}, {1, 100000, 2},
    {5, 300, 257},  {4096, 64, 1}, {1, 64, 4096}, {2, 33, 1},   {1, 1 << 20, 1},
};

TEST(CudaBackendOps, SumDimMatchesCpu) {
  EDAT_REQUIRE_CUDA();
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const ReduceLayout& l : kLayouts) {
      const Tensor x = random_tensor({l.outer, l.reduced, l.inner}, -2, 2, dtype);
      Tensor out_cpu = empty({l.outer, l.inner}, {.dtype = dtype});
      backend(Device::cpu()).sum_dim(x, out_cpu, l);
      Tensor out_gpu = empty({l.outer, l.inner}, {.dtype = dtype, .device = kCuda});
      backend(kCuda).sum_dim(x.cuda(), out_gpu, l);
      EXPECT_TRUE(matches_cpu(out_gpu, out_cpu))
          << "layout (" << l.outer << ", " << l.reduced << ", " << l.inner << ") " << dtype_name(dtype);
    }
  }
}

TEST(CudaBackendOps, WholeTensorSumOf16MElements) {
  EDAT_REQUIRE_CUDA();
  const std::int64_t n = std::int64_t{1} << 24;
  const Tensor x = random_tensor({n}, 0, 1);
  const ReduceLayout l{1, n, 1};
  Tensor out_cpu = empty({1});
  backend(Device::cpu()).sum_dim(x, out_cpu, l);
  Tensor out_gpu = empty({1}, {.device = kCuda});
  backend(kCuda).sum_dim(x.cuda(), out_gpu, l);
  EXPECT_TRUE(matches_cpu(out_gpu, out_cpu));
  EXPECT_NEAR(out_gpu.item() / static_cast<double>(n), 0.5, 1e-3);
  // The same through the op, and a sum over a long column (one output per inner position).
  EXPECT_TRUE(matches_cpu(sum(x.cuda()), sum(x)));
  const Tensor columns = x.untracked_view({n / 4, 4});
  EXPECT_TRUE(matches_cpu(sum(columns.cuda(), {0}), sum(columns, {0})));
}

// Values with many ties (small integers) and, optionally, NaNs: the first maximum (or the first NaN) must win.
Tensor tied_values(const Shape& shape, DType dtype, bool with_nan) {
  std::vector<double> values = random_tensor(shape, 0, 5, DType::f64).to_vector<double>();
  for (std::size_t i = 0; i < values.size(); ++i) {
    values[i] = std::floor(values[i]);
    if (with_nan && i % 997 == 13) values[i] = std::numeric_limits<double>::quiet_NaN();
  }
  return from_vector(values, shape, {.dtype = dtype});
}

TEST(CudaBackendOps, MaxDimMatchesCpuIncludingTiesAndNaN) {
  EDAT_REQUIRE_CUDA();
  for (DType dtype : {DType::f32, DType::f64}) {
    for (bool with_nan : {false, true}) {
      for (const ReduceLayout& l : kLayouts) {
        const Tensor x = with_nan || l.reduced < 10000 ? tied_values({l.outer, l.reduced, l.inner}, dtype, with_nan)
                                                       : random_tensor({l.outer, l.reduced, l.inner}, -2, 2, dtype);
        Tensor values_cpu = empty({l.outer, l.inner}, {.dtype = dtype});
        Tensor indices_cpu = empty({l.outer, l.inner}, {.dtype = DType::i64});
        backend(Device::cpu()).max_dim(x, values_cpu, indices_cpu, l);
        Tensor values_gpu = empty({l.outer, l.inner}, {.dtype = dtype, .device = kCuda});
        Tensor indices_gpu = empty({l.outer, l.inner}, {.dtype = DType::i64, .device = kCuda});
        backend(kCuda).max_dim(x.cuda(), values_gpu, indices_gpu, l);
        const std::string where = "layout (" + std::to_string(l.outer) + ", " + std::to_string(l.reduced) + ", " +
                                  std::to_string(l.inner) + ")" + (with_nan ? " with NaN" : "");
        EXPECT_TRUE(bit_identical(values_gpu, values_cpu)) << where;
        EXPECT_TRUE(bit_identical(indices_gpu, indices_cpu)) << where;

        // Backward: scatter the values' gradient to the argmax positions of a zeroed grad_x.
        const Tensor grad_values = random_tensor({l.outer, l.inner}, -1, 1, dtype);
        Tensor grad_cpu = zeros({l.outer, l.reduced, l.inner}, {.dtype = dtype});
        backend(Device::cpu()).max_dim_backward(grad_values, indices_cpu, grad_cpu, l);
        Tensor grad_gpu = zeros({l.outer, l.reduced, l.inner}, {.dtype = dtype, .device = kCuda});
        backend(kCuda).max_dim_backward(grad_values.cuda(), indices_gpu, grad_gpu, l);
        EXPECT_TRUE(bit_identical(grad_gpu, grad_cpu)) << where;
      }
    }
  }
}

TEST(CudaBackendOps, MatmulMatchesCpuForEveryTransposition) {
  EDAT_REQUIRE_CUDA();
  const std::vector<std::array<std::int64_t, 3>> sizes = {{1, 1, 1},       {7, 13, 5},  {64, 128, 32},
                                                          {257, 300, 129}, {1, 512, 1}, {300, 1, 200}};
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const auto& [m, k, n] : sizes) {
      for (bool ta : {false, true}) {
        for (bool tb : {false, true}) {
          const Tensor a = random_tensor(ta ? Shape{k, m} : Shape{m, k}, -1, 1, dtype, 11);
          const Tensor b = random_tensor(tb ? Shape{n, k} : Shape{k, n}, -1, 1, dtype, 12);
          Tensor out_cpu = empty({m, n}, {.dtype = dtype});
          backend(Device::cpu()).matmul(a, b, out_cpu, ta, tb);
          Tensor out_gpu = empty({m, n}, {.dtype = dtype, .device = kCuda});
          backend(kCuda).matmul(a.cuda(), b.cuda(), out_gpu, ta, tb);
          EXPECT_TRUE(matches_cpu(out_gpu, out_cpu)) << "(" << m << ", " << k << ", " << n << ") trans_a " << ta
                                                     << " trans_b " << tb << " " << dtype_name(dtype);
        }
      }
    }
  }
}

TEST(CudaBackendOps, MatmulWithEmptyInnerDimIsZero) {
  EDAT_REQUIRE_CUDA();
  Tensor out = full({3, 4}, 7.0, {.device = kCuda});
  backend(kCuda).matmul(empty({3, 0}, {.device = kCuda}), empty({0, 4}, {.device = kCuda}), out, false, false);
  EXPECT_TRUE(all_close(out, std::vector<double>(12, 0.0), 0));
}

TEST(CudaBackendOps, Transpose2dMatchesCpu) {
  EDAT_REQUIRE_CUDA();
  const std::vector<std::pair<std::int64_t, std::int64_t>> shapes = {{1, 1},    {33, 65},   {1000, 3},
                                                                     {3, 1000}, {512, 512}, {1, 70000}};
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const auto& [m, n] : shapes) {
      const Tensor x = random_tensor({m, n}, -2, 2, dtype);
      Tensor out_cpu = empty({n, m}, {.dtype = dtype});
      backend(Device::cpu()).transpose2d(x, out_cpu);
      Tensor out_gpu = empty({n, m}, {.dtype = dtype, .device = kCuda});
      backend(kCuda).transpose2d(x.cuda(), out_gpu);
      EXPECT_TRUE(bit_identical(out_gpu, out_cpu)) << x.desc();
    }
  }
}

TEST(CudaBackendOps, ConvertMatchesCpuBitForBit) {
  EDAT_REQUIRE_CUDA();
  // Integers, halfway cases of bf16 rounding, large values (within i64: float -> i64 overflow is undefined),
  // signed zero.
  std::vector<double> values = {0.0,
                                -0.0,
                                1.0,
                                -1.0,
                                2.5,
                                -2.5,
                                1e6,
                                -123456789.0,
                                9007199254740993.0,
                                1.00390625,
                                1.0039215087890625,
                                1.01171875,
                                3.0e18,
                                -7.75,
                                65504.0,
                                0.1};
  for (double v : random_tensor({200}, -1000, 1000, DType::f64).to_vector<double>()) values.push_back(v);
  const std::vector<DType> dtypes = {DType::f32, DType::f64, DType::bf16, DType::i64};
  for (DType from : dtypes) {
    const Tensor x = from_vector(values, {static_cast<std::int64_t>(values.size())}).to(DType::f64).to(from);
    for (DType to : dtypes) {
      EXPECT_TRUE(bit_identical(x.cuda().to(to), x.to(to))) << dtype_name(from) << " -> " << dtype_name(to);
    }
  }
  const Tensor nan = from_vector({std::nan(""), INFINITY, -INFINITY}, {3});
  for (DType to : {DType::f64, DType::bf16}) EXPECT_TRUE(bit_identical(nan.cuda().to(to), nan.to(to)));
}

TEST(CudaBackendOps, FillAndArangeMatchCpuBitForBit) {
  EDAT_REQUIRE_CUDA();
  for (DType dtype : {DType::f32, DType::f64, DType::bf16, DType::i64}) {
    for (double value : {0.0, -0.0, 3.7, -1e10, 1.0 / 3.0}) {
      EXPECT_TRUE(
          bit_identical(full({1001}, value, {.dtype = dtype, .device = kCuda}), full({1001}, value, {.dtype = dtype})))
          << value << " " << dtype_name(dtype);
    }
    EXPECT_TRUE(
        bit_identical(arange(-5, 5, 0.37, {.dtype = dtype, .device = kCuda}), arange(-5, 5, 0.37, {.dtype = dtype})))
        << dtype_name(dtype);
    EXPECT_TRUE(
        bit_identical(arange(0, 3e6, 1.1, {.dtype = dtype, .device = kCuda}), arange(0, 3e6, 1.1, {.dtype = dtype})))
        << dtype_name(dtype);
  }
}

TEST(CudaBackendOps, RandomFillsEqualTheCpuStream) {
  EDAT_REQUIRE_CUDA();
  for (DType dtype : {DType::f32, DType::f64, DType::bf16}) {
    for (const Shape& shape : {Shape{1}, Shape{1000}, Shape{3, 333333}}) {
      Generator g_cpu(1234), g_gpu(1234);
      g_cpu.advance(17), g_gpu.advance(17);  // a stream position other than 0
      // uniform is only multiplies and adds: the same bits on both devices.
      EXPECT_TRUE(bit_identical(uniform(shape, -3, 5, g_gpu, {.dtype = dtype, .device = kCuda}),
                                uniform(shape, -3, 5, g_cpu, {.dtype = dtype})))
          << "uniform " << dtype_name(dtype) << shape_str(shape);
      // normal goes through log and cos, whose last double bit may differ between CUDA's and the C library's.
      const Tensor n_gpu = normal(shape, 0.5, 2, g_gpu, {.dtype = dtype, .device = kCuda});
      const Tensor n_cpu = normal(shape, 0.5, 2, g_cpu, {.dtype = dtype});
      const double tol = dtype == DType::f64 ? 1e-13 : dtype == DType::f32 ? 1e-6 : 1e-2;
      EXPECT_TRUE(all_close(n_gpu.cpu(), n_cpu, tol, tol)) << "normal " << dtype_name(dtype) << shape_str(shape);
      EXPECT_EQ(g_cpu.offset(), g_gpu.offset());
    }
  }
}

TEST(CudaBackendOps, MathOnBf16SaysItIsNotSupportedYet) {
  EDAT_REQUIRE_CUDA();
  const Tensor x = ones({4}, {.dtype = DType::bf16, .device = kCuda});
  Tensor out = empty({4}, {.dtype = DType::bf16, .device = kCuda});
  EXPECT_TRUE(throws_with([&] { backend(kCuda).unary(UnaryOp::exp, x, out, 0); }, {"exp", "bf16", "CUDA"}));
  EXPECT_TRUE(throws_with([&] { backend(kCuda).binary(BinaryOp::add, x, x, out); }, {"add", "bf16", "CUDA"}));
  EXPECT_TRUE(throws_with([&] { backend(kCuda).sum_dim(x, out, {1, 4, 1}); }, {"sum", "bf16"}));
}

// ---- the ops of autograd/ops.h: forward and backward on both devices ----

struct Input {
  Shape shape;
  double lo = -2, hi = 2;
};

// Runs fn on CPU inputs and on CUDA copies of them, compares the outputs, then back-propagates
// loss = sum(out * w) with the same random w on both devices and compares every input's gradient.
void check_op(const std::string& name, const std::function<Tensor(const std::vector<Tensor>&)>& fn,
              const std::vector<Input>& inputs, DType dtype = DType::f32, bool differentiable = true) {
  SCOPED_TRACE(name + " " + dtype_name(dtype));
  std::vector<Tensor> cpu_inputs, gpu_inputs;
  std::uint64_t seed = 100;
  for (const Input& input : inputs) {
    const Tensor data = random_tensor(input.shape, input.lo, input.hi, dtype, seed++);
    Tensor c = data.clone(), g = data.cuda();
    if (differentiable) c.set_requires_grad(), g.set_requires_grad();
    cpu_inputs.push_back(c);
    gpu_inputs.push_back(g);
  }
  const Tensor out_cpu = fn(cpu_inputs), out_gpu = fn(gpu_inputs);
  ASSERT_TRUE(matches_cpu(out_gpu, out_cpu)) << "forward";
  if (!differentiable) return;
  const Tensor w = random_tensor(out_cpu.shape(), -1, 1, dtype, 99);
  sum(mul(out_cpu, w)).backward();
  sum(mul(out_gpu, w.cuda())).backward();
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    ASSERT_TRUE(cpu_inputs[k].grad().defined()) << "input " << k << " got no gradient on the CPU";
    ASSERT_TRUE(gpu_inputs[k].grad().defined()) << "input " << k << " got no gradient on CUDA";
    EXPECT_TRUE(matches_cpu(gpu_inputs[k].grad(), cpu_inputs[k].grad())) << "gradient of input " << k;
  }
}

using Args = const std::vector<Tensor>&;

class CudaOps : public ::testing::TestWithParam<DType> {};

TEST_P(CudaOps, BinaryWithBroadcasting) {
  EDAT_REQUIRE_CUDA();
  for (const auto& [sa, sb] : kBroadcastShapes) {
    if (numel(sa) > 100000) continue;
    const std::string shapes = shape_str(sa) + " with " + shape_str(sb);
    check_op(
        "add " + shapes, [](Args t) { return add(t[0], t[1]); }, {{sa}, {sb}}, GetParam());
    check_op(
        "sub " + shapes, [](Args t) { return sub(t[0], t[1]); }, {{sa}, {sb}}, GetParam());
    check_op(
        "mul " + shapes, [](Args t) { return mul(t[0], t[1]); }, {{sa}, {sb}}, GetParam());
    check_op(
        "div " + shapes, [](Args t) { return div(t[0], t[1]); }, {{sa}, {sb, 0.5, 2}}, GetParam());
  }
}

TEST_P(CudaOps, ScalarsAndOperators) {
  EDAT_REQUIRE_CUDA();
  const DType d = GetParam();
  check_op(
      "add scalar", [](Args t) { return add(t[0], 1.25); }, {{{5, 7}}}, d);
  check_op(
      "mul scalar", [](Args t) { return mul(t[0], -0.75); }, {{{5, 7}}}, d);
  check_op(
      "s - x", [](Args t) { return 2.0 - t[0]; }, {{{5, 7}}}, d);
  check_op(
      "s / x", [](Args t) { return 2.0 / t[0]; }, {{{5, 7}, 0.5, 2}}, d);
  check_op(
      "x / s", [](Args t) { return t[0] / 4.0; }, {{{5, 7}}}, d);
  check_op(
      "-x", [](Args t) { return -t[0]; }, {{{5, 7}}}, d);
  check_op(
      "a * b + a / b - b", [](Args t) { return t[0] * t[1] + t[0] / t[1] - t[1]; }, {{{3, 4}}, {{4}, 0.5, 2}}, d);
}

TEST_P(CudaOps, Unary) {
  EDAT_REQUIRE_CUDA();
  const DType d = GetParam();
  const Shape s = {4, 50, 6};
  check_op(
      "neg", [](Args t) { return neg(t[0]); }, {{s}}, d);
  check_op(
      "abs", [](Args t) { return abs(t[0]); }, {{s}}, d);
  check_op(
      "sign", [](Args t) { return sign(t[0]); }, {{s}}, d);
  check_op(
      "exp", [](Args t) { return exp(t[0]); }, {{s, -3, 3}}, d);
  check_op(
      "log", [](Args t) { return log(t[0]); }, {{s, 0.1, 5}}, d);
  check_op(
      "sqrt", [](Args t) { return sqrt(t[0]); }, {{s, 0.1, 5}}, d);
  check_op(
      "relu", [](Args t) { return relu(t[0]); }, {{s}}, d);
  check_op(
      "relu6", [](Args t) { return relu6(t[0]); }, {{s, -3, 9}}, d);
  check_op(
      "sigmoid", [](Args t) { return sigmoid(t[0]); }, {{s, -8, 8}}, d);
  check_op(
      "log_sigmoid", [](Args t) { return log_sigmoid(t[0]); }, {{s, -30, 30}}, d);
  check_op(
      "greater", [](Args t) { return greater(t[0], t[1]); }, {{s}, {{50, 1}}}, d, false);
  for (double e : {2.0, 3.0, 0.5, -1.0, -2.5}) {
    check_op(
        "pow " + std::to_string(e), [e](Args t) { return pow(t[0], e); }, {{s, 0.2, 2}}, d);
  }
}

TEST_P(CudaOps, Reductions) {
  EDAT_REQUIRE_CUDA();
  const DType d = GetParam();
  const Shape s = {6, 70, 5};
  check_op(
      "sum", [](Args t) { return sum(t[0]); }, {{s}}, d);
  check_op(
      "sum large", [](Args t) { return sum(t[0]); }, {{{1000, 1000}, 0, 1}}, d);
  check_op(
      "mean", [](Args t) { return mean(t[0]); }, {{s}}, d);
  for (const std::vector<std::int64_t>& dims :
       std::vector<std::vector<std::int64_t>>{{0}, {1}, {2}, {-1}, {0, 1}, {1, 2}, {0, 2}, {0, 1, 2}}) {
    for (bool keepdim : {false, true}) {
      std::ostringstream label;  // (string concatenation here trips a GCC 12 -Wrestrict false positive)
      label << "dims";
      for (std::int64_t dim : dims) label << ' ' << dim;
      if (keepdim) label << " keepdim";
      const std::string what = label.str();
      check_op(
          "sum " + what, [&](Args t) { return sum(t[0], dims, keepdim); }, {{s}}, d);
      check_op(
          "mean " + what, [&](Args t) { return mean(t[0], dims, keepdim); }, {{s}}, d);
    }
  }
  for (std::int64_t dim : {0, 1, 2, -1}) {
    for (bool keepdim : {false, true}) {
      const std::string what = "max dim " + std::to_string(dim) + (keepdim ? " keepdim" : "");
      check_op(
          what, [&](Args t) { return max(t[0], dim, keepdim).values; }, {{s}}, d);
      const Tensor x = random_tensor(s, -2, 2, d);
      EXPECT_TRUE(bit_identical(max(x.cuda(), dim, keepdim).indices, max(x, dim, keepdim).indices)) << what;
    }
  }
  check_op(
      "max long rows", [](Args t) { return max(t[0], 1).values; }, {{{8, 5000}}}, d);
}

TEST_P(CudaOps, BroadcastPair) {
  EDAT_REQUIRE_CUDA();
  const DType d = GetParam();
  check_op(
      "expand",
      [](Args t) {
        return expand(t[0], {2, 3, 4});
      },
      {{{3, 1}}}, d);
  check_op(
      "expand leading",
      [](Args t) {
        return expand(t[0], {5, 4});
      },
      {{{4}}}, d);
  check_op(
      "sum_to",
      [](Args t) {
        return sum_to(t[0], {3, 1});
      },
      {{{2, 3, 4}}}, d);
  check_op(
      "sum_to scalar", [](Args t) { return sum_to(t[0], {}); }, {{{2, 3, 4}}}, d);
  check_op(
      "sum_to channels",
      [](Args t) {
        return sum_to(t[0], {1, 3, 1, 1});
      },
      {{{4, 3, 5, 5}}}, d);
}

TEST_P(CudaOps, LinearAlgebraAndShape) {
  EDAT_REQUIRE_CUDA();
  const DType d = GetParam();
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      check_op(
          "matmul " + std::to_string(ta) + std::to_string(tb), [=](Args t) { return matmul(t[0], t[1], ta, tb); },
          {{ta ? Shape{40, 30} : Shape{30, 40}}, {tb ? Shape{20, 40} : Shape{40, 20}}}, d);
    }
  }
  check_op(
      "transpose", [](Args t) { return transpose(t[0]); }, {{{33, 65}}}, d);
  check_op(
      "reshape",
      [](Args t) {
        return reshape(t[0], {6, -1});
      },
      {{{2, 3, 4}}}, d);
  check_op(
      "flatten", [](Args t) { return flatten(t[0], 1); }, {{{2, 3, 4, 5}}}, d);
  // A small MLP layer and loss: relu(x W^T + b), mean of squares.
  check_op(
      "mlp",
      [](Args t) {
        const Tensor h = relu(add(matmul(t[0], t[1], false, true), t[2]));
        return mean(mul(h, h), {1});
      },
      {{{16, 32}}, {{64, 32}, -0.3, 0.3}, {{64}}}, d);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaOps, ::testing::Values(DType::f32, DType::f64),
                         [](const ::testing::TestParamInfo<DType>& param) { return dtype_name(param.param); });

TEST(CudaOpsResults, StayOnTheDevice) {
  EDAT_REQUIRE_CUDA();
  const Tensor x = ones({3, 4}, {.device = kCuda});
  EXPECT_EQ(add(x, x).device(), kCuda);
  EXPECT_EQ(sum(x).device(), kCuda);
  EXPECT_EQ(matmul(x, x, false, true).device(), kCuda);
  EXPECT_EQ(max(x, 1).indices.device(), kCuda);
  EXPECT_DOUBLE_EQ(sum(x).item(), 12.0);
}

// ---- memory: the caching allocator, pinned memory, copies ----

TEST(CudaMemory, BytesInUseRiseAndFallInSizeClasses) {
  EDAT_REQUIRE_CUDA();
  cuda::synchronize();
  const MemoryStats before = cuda::memory_stats(0);
  {
    const Tensor small = empty({250}, {.device = kCuda});  // 1000 bytes -> a 1024-byte class
    EXPECT_EQ(cuda::memory_stats(0).bytes_in_use, before.bytes_in_use + 1024);
    const Tensor large = empty({static_cast<std::int64_t>(kMiB / 4) + 1}, {.device = kCuda});  // 1 MiB + 4 bytes
    EXPECT_EQ(cuda::memory_stats(0).bytes_in_use, before.bytes_in_use + 1024 + kMiB + kMiB / 8);
    EXPECT_GE(cuda::memory_stats(0).peak_bytes_in_use, cuda::memory_stats(0).bytes_in_use);
  }
  const MemoryStats after = cuda::memory_stats(0);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
  EXPECT_GE(after.bytes_cached, 1024 + kMiB + kMiB / 8);
  EXPECT_EQ(after.allocations, before.allocations + 2);
}

TEST(CudaMemory, FreedBlockIsReused) {
  EDAT_REQUIRE_CUDA();
  const Shape shape = {3 * 1024 * 256 + 31};  // an odd size, about 3 MiB
  { const Tensor first = empty(shape, {.device = kCuda}); }
  const MemoryStats before = cuda::memory_stats(0);
  { const Tensor second = empty(shape, {.device = kCuda}); }
  const MemoryStats after = cuda::memory_stats(0);
  EXPECT_EQ(after.allocations, before.allocations + 1);
  EXPECT_EQ(after.cache_hits, before.cache_hits + 1);
  EXPECT_EQ(after.device_allocations, before.device_allocations);
}

TEST(CudaMemory, PeakIsTrackedAndReset) {
  EDAT_REQUIRE_CUDA();
  cuda::reset_peak_memory_stats(0);
  const MemoryStats start = cuda::memory_stats(0);
  EXPECT_EQ(start.peak_bytes_in_use, start.bytes_in_use);
  { const Tensor big = empty({static_cast<std::int64_t>(4 * kMiB)}, {.device = kCuda}); }  // 16 MiB
  MemoryStats now = cuda::memory_stats(0);
  EXPECT_EQ(now.bytes_in_use, start.bytes_in_use);
  EXPECT_GE(now.peak_bytes_in_use, start.bytes_in_use + 16 * kMiB);
  cuda::reset_peak_memory_stats(0);
  now = cuda::memory_stats(0);
  EXPECT_EQ(now.peak_bytes_in_use, now.bytes_in_use);
}

TEST(CudaMemory, EmptyCacheReleasesEveryCachedBlock) {
  EDAT_REQUIRE_CUDA();
  { const Tensor t = empty({1 << 20}, {.device = kCuda}); }
  EXPECT_GT(cuda::memory_stats(0).bytes_cached, 0u);
  cuda::empty_cache();
  EXPECT_EQ(cuda::memory_stats(0).bytes_cached, 0u);
  const Tensor again = ones({1 << 20}, {.device = kCuda});  // and allocation still works
  EXPECT_DOUBLE_EQ(sum(again).item(), static_cast<double>(1 << 20));
}

TEST(CudaMemory, AbsurdAllocationThrowsOutOfMemory) {
  EDAT_REQUIRE_CUDA();
  const MemoryStats before = cuda::memory_stats(0);
  EXPECT_TRUE(throws_with([] { empty({std::int64_t{1} << 48}, {.device = kCuda}); },  // 1 PiB of f32
                          {"out of memory", "cuda:0", "MiB"}));
  EXPECT_EQ(cuda::memory_stats(0).bytes_in_use, before.bytes_in_use);
  // The failure is cleared: the next allocation and kernel work.
  const Tensor x = full({1000}, 2.0, {.device = kCuda});
  EXPECT_DOUBLE_EQ(sum(x).item(), 2000.0);
}

TEST(CudaMemory, F32RoundTripIsBitIdentical) {
  EDAT_REQUIRE_CUDA();
  std::vector<double> values = {0.0,      -0.0,      1.0,         -1.5, 1e-40, -1e-45, 3.4028234663852886e38,
                                INFINITY, -INFINITY, std::nan("")};
  for (double v : random_tensor({100000}).to_vector<double>()) values.push_back(v);
  const Tensor x = from_vector(values, {static_cast<std::int64_t>(values.size())});
  const Tensor back = x.cuda().cpu();
  EXPECT_EQ(back.device(), Device::cpu());
  EXPECT_EQ(std::memcmp(back.raw_data(), x.raw_data(), x.nbytes()), 0);
  EXPECT_TRUE(bit_identical(x.cuda().clone(), x));  // device -> device
}

TEST(CudaMemory, PinnedCopiesRoundTrip) {
  EDAT_REQUIRE_CUDA();
  for (int round = 0; round < 5; ++round) {  // freed pinned blocks are reused once their copies finished
    const Tensor host = random_tensor({1 << 18}, -1, 1, DType::f32, static_cast<std::uint64_t>(round));
    const Tensor pinned = host.pin_memory();
    ASSERT_TRUE(pinned.is_pinned());
    EXPECT_EQ(pinned.device(), Device::cpu());
    const Tensor device = pinned.cuda();  // asynchronous host -> device copy
    Tensor pinned_back = empty(host.shape(), {.pinned = true});
    pinned_back.copy_(device);  // device -> pinned host, synchronous
    EXPECT_TRUE(bit_identical(pinned_back, host)) << "round " << round;
    EXPECT_TRUE(bit_identical(device, host)) << "round " << round;
  }
  cuda::empty_cache();  // also frees the cached pinned blocks
  cuda::synchronize();
}

#if EDAT_HAS_CUDA
// A pinned block remembers the devices whose streams have copies from it queued: its reuse waits on their streams,
// whatever device is current on the thread that frees it. A block no copy read is free for reuse at once.
TEST(CudaMemory, PinnedBlocksWaitForTheDeviceTheirCopyWentTo) {
  EDAT_REQUIRE_CUDA();
  const Tensor unused = empty({1 << 16}, {.pinned = true});
  EXPECT_EQ(cuda_impl::pinned_devices_used(*unused.impl()->storage), 0u);
  const Tensor pinned = random_tensor({1 << 16}, -1, 1, DType::f32, 3).pin_memory();
  const Tensor on_device = pinned.to(kCuda);
  EXPECT_EQ(cuda_impl::pinned_devices_used(*pinned.impl()->storage), 1u) << "cuda:0's bit";

  if (cuda::device_count() < 2) GTEST_SKIP() << "the cross-device case needs two GPUs; this machine has one";
  const Device second = Device::cuda(1);
  for (int round = 0; round < 20; ++round) {
    Tensor source = random_tensor({1 << 22}, -1, 1, DType::f32, 10 + round).pin_memory();
    const Tensor expected = source.clone();  // pageable copy of what the device must receive
    const Tensor copied = source.to(second);  // queued on cuda:1 while cuda:0 is current on this thread
    EXPECT_EQ(cuda_impl::pinned_devices_used(*source.impl()->storage), 2u) << "cuda:1's bit";
    source = Tensor();  // freed here, with cuda:0 current
    Tensor reused = empty({1 << 22}, {.pinned = true});  // may be the same block, but only once cuda:1 read it
    std::fill_n(reused.data<float>(), reused.numel(), 7.0f);
    EXPECT_TRUE(bit_identical(copied, expected)) << "round " << round;
  }
}
#endif

}  // namespace

#if EDAT_HAS_CUDA
// cuBLAS is loaded on first use (tensor/cuda/cublas_on_demand.cpp): CPU work never maps it into the process, and the
// first cuBLAS call loads it and reaches the real library (its version needs no GPU).
TEST(CublasOnDemand, LoadedOnlyByTheFirstCall) {
  const auto cublas_mapped = [] {
    std::ifstream maps("/proc/self/maps");
    const std::string text((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
    return text.find("libcublas") != std::string::npos;
  };
  const Tensor x = full({64, 64}, 0.5);
  EXPECT_NEAR(sum(matmul(x, x)).item(), 64 * 64 * 64 * 0.25, 1e-3);
  if (!cuda::is_available()) {  // on a GPU machine the other tests of this binary may have used cuBLAS already
    EXPECT_FALSE(cublas_mapped()) << "a CPU run mapped cuBLAS";
  }
  int major = 0;
  ASSERT_EQ(cublasGetProperty(MAJOR_VERSION, &major), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(major, CUBLAS_VER_MAJOR);
  EXPECT_STREQ(cublasGetStatusName(CUBLAS_STATUS_SUCCESS), "CUBLAS_STATUS_SUCCESS");
  EXPECT_TRUE(cublas_mapped());
}
#endif
