// The CUDA layer kernels (cuDNN convolution and batch norm, own pooling and dropout kernels) against the textbook
// kernels of layers/reference/, the oracle: in this file the CPU runs the reference kernels (ReferenceOnTheCpu below),
// so every "CPU" result is the definition's. Through the functional API: forward values, and the gradients of
// sum(y * w) with respect to every input. Max pooling's values, indices and the dropout mask must match exactly.
// f32 convolutions and batch norm compare at 1e-4 relative (cuDNN sums in another order), the rest at 1e-5; f64 at
// 1e-10. Every test skips without a GPU.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "layers/functional.h"
#include "layers/kernels.h"
#include "tensor/backend.h"
#include "tensor/determinism.h"
#include "layers/reference/reference_layer_kernels.h"
#include "tensor/factory.h"
#include "tests/conv_cases.h"
#include "tests/test_util.h"
#if EDAT_HAS_CUDA
#include "layers/cuda/cudnn_status.h"
#include "layers/cuda/cudnn_wrapper.h"
#endif

using namespace edat;
using edat::nn::Conv2dOptions;
using edat::nn::Pool2dOptions;
using edat::testing::all_close;
using edat::testing::bit_identical;
using edat::testing::ConvCase;
using edat::testing::ConvReference;
using edat::testing::throws_with;

namespace {

// For the whole of this test program the CPU's layer kernels are the reference ones.
class ReferenceOnTheCpu : public ::testing::Environment {
 public:
  void SetUp() override { fast_ = &nn::use_cpu_layer_kernels(nn::reference::reference_layer_kernels()); }
  void TearDown() override { nn::use_cpu_layer_kernels(*fast_); }

 private:
  nn::LayerKernels* fast_ = nullptr;
};
[[maybe_unused]] ::testing::Environment* const kReferenceOnTheCpu =
    ::testing::AddGlobalTestEnvironment(new ReferenceOnTheCpu);

const Device kCpu = Device::cpu();
const Device kCuda = Device::cuda(0);
constexpr double kCudnnRtol = 1e-4;  // f32 convolution and batch norm
constexpr double kRtol = 1e-5;       // f32 pooling and dropout
constexpr double kF64Rtol = 1e-10;

double rtol_for(DType dtype, double f32_rtol) { return dtype == DType::f64 ? kF64Rtol : f32_rtol; }

// Every element of `actual` within rtol of `expected`'s, relative to the element or (for results near zero) to 1/10
// of the largest expected magnitude; a failure names the worst element.
::testing::AssertionResult close_to(const Tensor& actual, const Tensor& expected, double rtol) {
  if (!actual.defined() || !expected.defined()) return ::testing::AssertionFailure() << "an undefined tensor";
  if (actual.dtype() != expected.dtype())
    return ::testing::AssertionFailure() << actual.desc() << " vs " << expected.desc();
  double scale = 1;
  for (double v : expected.to_vector<double>()) scale = std::isfinite(v) ? std::max(scale, std::abs(v)) : scale;
  return all_close(actual.cpu(), expected.cpu(), rtol, 0.1 * rtol * scale);
}

// The CUDA result `gpu` is close_to the CPU's (the reference kernels') result `cpu`.
::testing::AssertionResult matches_reference(const Tensor& gpu, const Tensor& cpu, double rtol) {
  if (gpu.defined() && !gpu.device().is_cuda())
    return ::testing::AssertionFailure() << "expected a CUDA tensor, got " << gpu.desc();
  if (cpu.defined() && !cpu.device().is_cpu())
    return ::testing::AssertionFailure() << "expected a CPU tensor, got " << cpu.desc();
  return close_to(gpu, cpu, rtol);
}

Tensor random_tensor(const Shape& shape, double lo, double hi, DType dtype, std::uint64_t seed) {
  Generator generator(seed * 7919 + static_cast<std::uint64_t>(numel(shape)));
  return uniform(shape, lo, hi, generator, {.dtype = dtype});
}

// A copy of `t` on `device` that is a leaf requiring grad (undefined stays undefined).
Tensor leaf(const Tensor& t, Device device) {
  if (!t.defined()) return Tensor();
  Tensor out = t.to(device).clone();
  out.set_requires_grad(true);
  return out;
}

Tensor grad_of(const Tensor& t) { return t.defined() ? t.grad() : Tensor(); }

std::string name_of(const std::string& what, DType dtype) { return what + " (" + dtype_name(dtype) + ")"; }

// ---- convolution: every case of tests/conv_cases.h, small and layer-sized ----

std::vector<ConvCase> every_conv_case() {
  std::vector<ConvCase> cases = edat::testing::conv_cases();
  for (const ConvCase& c : edat::testing::large_conv_cases()) cases.push_back(c);
  return cases;
}

const ConvCase& large_case(std::size_t i) { return edat::testing::large_conv_cases().at(i); }

struct ConvResult {
  Tensor y, dx, dweight, dbias;
};

// y = conv2d(x, weight, bias) on `device` and the gradients of sum(y * cotangent).
ConvResult conv_on(Device device, const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& cotangent,
                   const Conv2dOptions& options) {
  const Tensor xd = leaf(x, device), wd = leaf(weight, device), bd = leaf(bias, device);
  const Tensor y = nn::conv2d(xd, wd, bd, options);
  sum(y * cotangent.to(device)).backward();
  return {y.detach(), xd.grad(), wd.grad(), grad_of(bd)};
}

TEST(CudaLayers, Conv2dForwardAndBackwardMatchTheReference) {
  EDAT_REQUIRE_CUDA();
  for (DType dtype : {DType::f32, DType::f64}) {
    std::uint64_t seed = 1;
    for (const ConvCase& c : every_conv_case()) {
      const double fan_in = static_cast<double>(c.w[1] * c.w[2] * c.w[3]);
      const Tensor x = random_tensor(c.x, -1, 1, dtype, seed++);
      const Tensor weight = random_tensor(c.w, -1 / std::sqrt(fan_in), 1 / std::sqrt(fan_in), dtype, seed++);
      const Tensor bias = c.bias ? random_tensor({c.w[0]}, -0.5, 0.5, dtype, seed++) : Tensor();
      const Tensor cotangent = random_tensor(c.y(), -1, 1, dtype, seed++);
      const ConvReference oracle = edat::testing::reference_conv(x, weight, bias, cotangent, c.options);
      ConvResult gpu;
      EDAT_SKIP_IF_CUDNN_LACKS_F64(gpu = conv_on(kCuda, x, weight, bias, cotangent, c.options));
      const double rtol = rtol_for(dtype, kCudnnRtol);
      const std::string what = name_of(c.name, dtype);
      EXPECT_TRUE(matches_reference(gpu.y, oracle.y, rtol)) << what << ": y";
      EXPECT_TRUE(matches_reference(gpu.dx, oracle.dx, rtol)) << what << ": dx";
      EXPECT_TRUE(matches_reference(gpu.dweight, oracle.dw, rtol)) << what << ": dweight";
      if (c.bias) {
        EXPECT_TRUE(matches_reference(gpu.dbias, oracle.db, rtol)) << what << ": dbias";
      }
    }
  }
}

// The first call with a geometry (used by no other test) ranks the algorithms, later calls find them in the cache,
// also after other geometries came in between: the forward gives the very same bits, the backward passes the same
// values (up to the order of the atomic adds some backward algorithms use).
TEST(CudaLayers, Conv2dAlgorithmCacheHitGivesTheSameResult) {
  EDAT_REQUIRE_CUDA();
  const ConvCase main_case = {
      "cache", {4, 32, 20, 20}, {48, 32, 3, 3}, false, {.stride_h = 1, .stride_w = 2, .pad_h = 1}};
  for (DType dtype : {DType::f32, DType::f64}) {
    const Tensor x = random_tensor(main_case.x, -1, 1, dtype, 101);
    const Tensor weight = random_tensor(main_case.w, -0.05, 0.05, dtype, 102);
    const Tensor cotangent = random_tensor(main_case.y(), -1, 1, dtype, 103);
    ConvResult first;
    EDAT_SKIP_IF_CUDNN_LACKS_F64(first = conv_on(kCuda, x, weight, Tensor(), cotangent, main_case.options));
    for (const ConvCase& other : {large_case(0), large_case(3)}) {  // other keys in between
      const Tensor ox = random_tensor(other.x, -1, 1, dtype, 104);
      const Tensor ow = random_tensor(other.w, -1, 1, dtype, 105);
      (void)conv_on(kCuda, ox, ow, Tensor(), random_tensor(other.y(), -1, 1, dtype, 106), other.options);
    }
    for (int repeat = 0; repeat < 2; ++repeat) {
      const ConvResult again = conv_on(kCuda, x, weight, Tensor(), cotangent, main_case.options);
      const std::string what = name_of("repeat " + std::to_string(repeat), dtype);
      EXPECT_TRUE(bit_identical(again.y, first.y)) << what;
      EXPECT_TRUE(close_to(again.dx, first.dx, rtol_for(dtype, kRtol))) << what << ": dx";
      EXPECT_TRUE(close_to(again.dweight, first.dweight, rtol_for(dtype, kRtol))) << what << ": dweight";
    }
  }
}

TEST(CudaLayers, Conv2dRejectsBf16WithAClearMessage) {
  EDAT_REQUIRE_CUDA();
  const Tensor x = random_tensor({1, 2, 5, 5}, -1, 1, DType::f32, 1).cuda().to(DType::bf16);
  const Tensor w = random_tensor({3, 2, 3, 3}, -1, 1, DType::f32, 2).cuda().to(DType::bf16);
  EXPECT_TRUE(throws_with([&] { (void)nn::conv2d(x, w, Tensor(), {}); }, {"bf16"}));
}

// ---- batch norm ----

struct BatchNormResult {
  Tensor y, running_mean, running_var, dx, dweight, dbias;
};

BatchNormResult batch_norm_on(Device device, const Tensor& x, const Tensor& weight, const Tensor& bias,
                              const Tensor& running_mean, const Tensor& running_var, const Tensor& cotangent,
                              bool training, double momentum, double eps) {
  const Tensor xd = leaf(x, device), wd = leaf(weight, device), bd = leaf(bias, device);
  const Tensor mean = running_mean.to(device).clone(), var = running_var.to(device).clone();
  const Tensor y = nn::batch_norm(xd, wd, bd, mean, var, training, momentum, eps);
  sum(y * cotangent.to(device)).backward();
  return {y.detach(), mean, var, xd.grad(), grad_of(wd), grad_of(bd)};
}

struct BatchNormCase {
  Shape x;
  bool affine;
  double momentum, eps;
  double spread = 2;  // x uniform in [1, 1 + spread]: a small spread makes a variance near eps, where eps matters
};

TEST(CudaLayers, BatchNormTrainingAndEvaluationMatchTheReference) {
  EDAT_REQUIRE_CUDA();
  const std::vector<BatchNormCase> cases = {
      {{4, 6, 5, 7}, true, 0.1, 1e-5}, {{16, 32, 14, 14}, true, 0.1, 1e-5}, {{4, 6, 5, 7}, false, 0.3, 1e-3},
      {{2, 3, 1, 1}, true, 0.1, 1e-5}, {{8, 5}, true, 0.1, 1e-5},           {{64, 8, 3, 3}, true, 1.0, 1e-5},
      // eps 1e-3 against a variance of about 1e-3: the backward must use the forward's eps, not a default.
      {{4, 6, 5, 7}, true, 0.1, 1e-3, 0.1},
  };
  for (DType dtype : {DType::f32, DType::f64}) {
    std::uint64_t seed = 1;
    for (const BatchNormCase& c : cases) {
      const std::int64_t C = c.x[1];
      const Tensor x = random_tensor(c.x, 1, 1 + c.spread, dtype, seed++);  // a mean far from 0
      const Tensor weight = c.affine ? random_tensor({C}, 0.5, 1.5, dtype, seed++) : Tensor();
      const Tensor bias = c.affine ? random_tensor({C}, -0.5, 0.5, dtype, seed++) : Tensor();
      const Tensor running_mean = random_tensor({C}, -0.5, 0.5, dtype, seed++);
      const Tensor running_var = random_tensor({C}, 0.5, 2, dtype, seed++);
      const Tensor cotangent = random_tensor(c.x, -1, 1, dtype, seed++);
      const double rtol = rtol_for(dtype, kCudnnRtol);
      for (bool training : {true, false}) {
        const BatchNormResult cpu =
            batch_norm_on(kCpu, x, weight, bias, running_mean, running_var, cotangent, training, c.momentum, c.eps);
        BatchNormResult gpu;
        EDAT_SKIP_IF_CUDNN_LACKS_F64(gpu = batch_norm_on(kCuda, x, weight, bias, running_mean, running_var, cotangent,
                                                         training, c.momentum, c.eps));
        const std::string what =
            name_of(shape_str(c.x) + (training ? " training" : " evaluation") + (c.affine ? "" : " without affine") +
                        ", momentum " + std::to_string(c.momentum),
                    dtype);
        EXPECT_TRUE(matches_reference(gpu.y, cpu.y, rtol)) << what << ": y";
        EXPECT_TRUE(matches_reference(gpu.running_mean, cpu.running_mean, rtol)) << what << ": running_mean";
        EXPECT_TRUE(matches_reference(gpu.running_var, cpu.running_var, rtol)) << what << ": running_var";
        EXPECT_TRUE(matches_reference(gpu.dx, cpu.dx, rtol)) << what << ": dx";
        if (c.affine) {
          EXPECT_TRUE(matches_reference(gpu.dweight, cpu.dweight, rtol)) << what << ": dweight";
          EXPECT_TRUE(matches_reference(gpu.dbias, cpu.dbias, rtol)) << what << ": dbias";
        }
      }
    }
  }
}

// The running variance is the unbiased one: with momentum 1 it is the batch's variance times m / (m - 1).
TEST(CudaLayers, BatchNormRunningVarianceIsUnbiased) {
  EDAT_REQUIRE_CUDA();
  const Tensor x = from_vector({1, 2, 3, 4}, {4, 1, 1, 1}).cuda();
  const Tensor mean = zeros({1}, {.device = kCuda}), var = ones({1}, {.device = kCuda});
  (void)nn::batch_norm(x, Tensor(), Tensor(), mean, var, true, 1.0, 1e-5);
  EXPECT_NEAR(mean.item(), 2.5, 1e-6);
  EXPECT_NEAR(var.item(), 1.25 * 4 / 3, 1e-6);
}

// ---- max pooling ----

struct PoolCase {
  Shape x;
  Pool2dOptions options;
};

const std::vector<PoolCase> kPoolCases = {
    {{2, 4, 11, 11}, {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1}},
    {{2, 3, 8, 8}, {}},
    {{2, 3, 9, 9}, {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .ceil_mode = true}},
    {{2, 2, 6, 7}, {.pad_h = 1, .pad_w = 1, .ceil_mode = true}},
    {{1, 2, 10, 10},
     {.kernel_h = 3,
      .kernel_w = 3,
      .stride_h = 1,
      .stride_w = 1,
      .pad_h = 1,
      .pad_w = 1,
      .dilation_h = 2,
      .dilation_w = 2}},
    {{2, 3, 7, 10}, {.kernel_h = 2, .kernel_w = 3, .stride_h = 1, .stride_w = 2, .pad_h = 1, .pad_w = 1}},
    {{16, 64, 56, 56}, {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1}},
};

// Small integers: many ties, so the first maximum must win on both devices.
Tensor tied_values(const Shape& shape, DType dtype, std::uint64_t seed) {
  std::vector<double> values = random_tensor(shape, 0, 4, DType::f64, seed).to_vector<double>();
  for (double& v : values) v = std::floor(v);
  return from_vector(values, shape, {.dtype = dtype});
}

TEST(CudaLayers, MaxPoolValuesIndicesAndGradientsMatchTheReference) {
  EDAT_REQUIRE_CUDA();
  for (DType dtype : {DType::f32, DType::f64}) {
    std::uint64_t seed = 1;
    for (const PoolCase& c : kPoolCases) {
      for (bool ties : {false, true}) {
        const Tensor x = ties ? tied_values(c.x, dtype, seed++) : random_tensor(c.x, -2, 2, dtype, seed++);
        const std::string what = name_of(shape_str(c.x) + (ties ? " with ties" : ""), dtype);

        // The kernels directly, for the indices.
        const Tensor y_cpu = nn::max_pool2d(x, c.options);
        Tensor indices_cpu = empty(y_cpu.shape(), {.dtype = DType::i64});
        Tensor values_cpu = empty(y_cpu.shape(), {.dtype = dtype});
        nn::layer_kernels(kCpu).max_pool2d_forward(x, values_cpu, indices_cpu, c.options);
        Tensor indices_gpu = empty(y_cpu.shape(), {.dtype = DType::i64, .device = kCuda});
        Tensor values_gpu = empty(y_cpu.shape(), {.dtype = dtype, .device = kCuda});
        nn::layer_kernels(kCuda).max_pool2d_forward(x.cuda(), values_gpu, indices_gpu, c.options);
        EXPECT_TRUE(bit_identical(values_gpu, values_cpu)) << what << ": values";
        EXPECT_TRUE(bit_identical(indices_gpu, indices_cpu)) << what << ": indices";

        // Through the op: values and the gradient of sum(y * w).
        const Tensor cotangent = random_tensor(y_cpu.shape(), -1, 1, dtype, seed++);
        Tensor grads[2];
        Tensor values[2];
        for (int d = 0; d < 2; ++d) {
          const Device device = d == 0 ? kCpu : kCuda;
          const Tensor xd = leaf(x, device);
          values[d] = nn::max_pool2d(xd, c.options);
          sum(values[d] * cotangent.to(device)).backward();
          grads[d] = xd.grad();
        }
        EXPECT_TRUE(bit_identical(values[1], values[0])) << what << ": y";
        EXPECT_TRUE(matches_reference(grads[1], grads[0], rtol_for(dtype, kRtol))) << what << ": dx";
      }
    }
  }
}

// ---- adaptive average pooling ----

TEST(CudaLayers, AdaptiveAvgPoolForwardAndBackwardMatchTheReference) {
  EDAT_REQUIRE_CUDA();
  struct Case {
    Shape x;
    std::int64_t out_h, out_w;
  };
  const std::vector<Case> cases = {{{2, 3, 7, 7}, 1, 1},   {{2, 3, 10, 9}, 3, 4},  {{1, 2, 5, 5}, 7, 6},
                                   {{2, 3, 8, 8}, 8, 8},   {{2, 3, 13, 11}, 5, 3}, {{1, 1, 1, 1}, 2, 3},
                                   {{64, 512, 7, 7}, 1, 1}};
  for (DType dtype : {DType::f32, DType::f64}) {
    std::uint64_t seed = 1;
    for (const Case& c : cases) {
      const Tensor x = random_tensor(c.x, -2, 2, dtype, seed++);
      const Tensor cotangent = random_tensor({c.x[0], c.x[1], c.out_h, c.out_w}, -1, 1, dtype, seed++);
      Tensor values[2], grads[2];
      for (int d = 0; d < 2; ++d) {
        const Device device = d == 0 ? kCpu : kCuda;
        const Tensor xd = leaf(x, device);
        values[d] = nn::adaptive_avg_pool2d(xd, c.out_h, c.out_w);
        sum(values[d] * cotangent.to(device)).backward();
        grads[d] = xd.grad();
      }
      const std::string what =
          name_of(shape_str(c.x) + " -> " + std::to_string(c.out_h) + "x" + std::to_string(c.out_w), dtype);
      EXPECT_TRUE(matches_reference(values[1], values[0], rtol_for(dtype, kRtol))) << what << ": y";
      EXPECT_TRUE(matches_reference(grads[1], grads[0], rtol_for(dtype, kRtol))) << what << ": dx";
    }
  }
}

// ---- dropout ----

// The same generator state gives the same mask on both devices, bit for bit, and advances both generators alike.
TEST(CudaLayers, DropoutMaskIsTheCpusMask) {
  EDAT_REQUIRE_CUDA();
  for (DType dtype : {DType::f32, DType::f64}) {
    for (double p : {0.5, 0.25, 0.3, 0.9}) {
      for (const Shape& shape : {Shape{3, 5, 7, 11}, Shape{1 << 20}}) {
        Generator on_cpu(99), on_gpu(99);
        on_cpu.advance(17), on_gpu.advance(17);  // a stream position other than 0
        const Tensor x = ones(shape, {.dtype = dtype});
        const Tensor mask_cpu = nn::dropout(x, p, true, on_cpu);  // x = 1: y is the mask itself
        const Tensor mask_gpu = nn::dropout(x.cuda(), p, true, on_gpu);
        const std::string what = name_of(shape_str(shape) + " p " + std::to_string(p), dtype);
        EXPECT_TRUE(bit_identical(mask_gpu, mask_cpu)) << what;
        EXPECT_EQ(on_gpu.offset(), on_cpu.offset()) << what;
      }
    }
  }
}

TEST(CudaLayers, DropoutGradientMatchesTheReference) {
  EDAT_REQUIRE_CUDA();
  const Tensor x = random_tensor({4, 8, 6, 6}, -2, 2, DType::f32, 1);
  const Tensor cotangent = random_tensor(x.shape(), -1, 1, DType::f32, 2);
  Tensor values[2], grads[2];
  for (int d = 0; d < 2; ++d) {
    const Device device = d == 0 ? kCpu : kCuda;
    Generator generator(5);
    const Tensor xd = leaf(x, device);
    values[d] = nn::dropout(xd, 0.4, true, generator);
    sum(values[d] * cotangent.to(device)).backward();
    grads[d] = xd.grad();
  }
  EXPECT_TRUE(matches_reference(values[1], values[0], kRtol));
  EXPECT_TRUE(matches_reference(grads[1], grads[0], kRtol));
}

// ---- deterministic mode (tensor/determinism.h) ----

// Sets deterministic mode for the scope and restores the previous mode after.
class DeterministicScope {
 public:
  explicit DeterministicScope(bool on) : previous_(deterministic()) { set_deterministic(on); }
  ~DeterministicScope() { set_deterministic(previous_); }
  DeterministicScope(const DeterministicScope&) = delete;
  DeterministicScope& operator=(const DeterministicScope&) = delete;

 private:
  bool previous_;
};

// Two runs of the same convolutions (the ResNet shapes whose fastest backward algorithms use atomics) and max
// pooling with overlapping windows give the same bits in deterministic mode; the max-pool gradient then equals the
// CPU's bit for bit (the gather adds in the CPU's order).
TEST(CudaLayers, DeterministicModeRepeatsBitForBit) {
  EDAT_REQUIRE_CUDA();
  const DeterministicScope deterministic_mode(true);
  for (const ConvCase& c : edat::testing::large_conv_cases()) {
    const Tensor x = random_tensor(c.x, -1, 1, DType::f32, 201);
    const Tensor weight = random_tensor(c.w, -0.1, 0.1, DType::f32, 202);
    const Tensor cotangent = random_tensor(c.y(), -1, 1, DType::f32, 203);
    const ConvResult first = conv_on(kCuda, x, weight, Tensor(), cotangent, c.options);
    const ConvResult second = conv_on(kCuda, x, weight, Tensor(), cotangent, c.options);
    EXPECT_TRUE(bit_identical(second.y, first.y)) << c.name << ": y";
    EXPECT_TRUE(bit_identical(second.dx, first.dx)) << c.name << ": dx";
    EXPECT_TRUE(bit_identical(second.dweight, first.dweight)) << c.name << ": dweight";
  }
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const PoolCase& c : kPoolCases) {
      const Tensor x = tied_values(c.x, dtype, 7);
      const Tensor cotangent = random_tensor(nn::max_pool2d(x, c.options).shape(), -1, 1, dtype, 8);
      Tensor grads[3];
      for (int run = 0; run < 3; ++run) {
        const Tensor xd = leaf(x, run == 0 ? kCpu : kCuda);
        sum(nn::max_pool2d(xd, c.options) * cotangent.to(xd.device())).backward();
        grads[run] = xd.grad();
      }
      const std::string what = name_of(shape_str(c.x), dtype);
      EXPECT_TRUE(bit_identical(grads[1], grads[0])) << what << ": the gather's gradient is the CPU's";
      EXPECT_TRUE(bit_identical(grads[2], grads[1])) << what << ": a second run";
    }
  }
}

// ---- cuDNN statuses: pure functions, so these run without a GPU in a CUDA build ----
#if EDAT_HAS_CUDA
using nn::cuda_impl::classify_cudnn_status;
using nn::cuda_impl::cudnn_environment_hint;
using nn::cuda_impl::CudnnFault;

cudnnStatus_t status_of(int code) { return static_cast<cudnnStatus_t>(code); }

// cuDNN 9 reports sub-codes inside a category (2002-2012 in BAD_PARAM ...): each is classified by its category, and a
// sub-code that a later cuDNN adds falls in its category too.
TEST(CudnnStatus, ClassifiesBySubCodeCategory) {
  EXPECT_EQ(classify_cudnn_status(CUDNN_STATUS_SUCCESS), CudnnFault::none);
  for (int code = 2000; code <= 2012; ++code) {
    EXPECT_EQ(classify_cudnn_status(status_of(code)), CudnnFault::bad_param) << code;
  }
  for (int code : {3000, 3001, 3002, 3003, 3004, 3007, 3010, 3011, 3012, 3013, 3014, 3099, 4004}) {
    EXPECT_EQ(classify_cudnn_status(status_of(code)), CudnnFault::algorithm_unavailable) << code;
    EXPECT_STREQ(cudnn_environment_hint(status_of(code)), "") << code;
  }
  for (int code : {4000, 4001, 4002, 4003, 4005, 4006, 5000, 5001, 5002, 5003, 5004, 1004, 1006, 1007}) {
    EXPECT_EQ(classify_cudnn_status(status_of(code)), CudnnFault::failure) << code;
  }
  EXPECT_EQ(classify_cudnn_status(status_of(2099)), CudnnFault::bad_param);
}

// A broken installation (old driver, mismatched runtime, NVRTC or a sub-library missing) is an environment fault:
// never a reason to try a slower algorithm, and its message says what to fix.
TEST(CudnnStatus, EnvironmentFaultsAreErrorsThatSayWhatToFix) {
  for (int code : {3005, 3006, 3008, 3009, 1001, 1002, 1003, 1005, 1008}) {
    EXPECT_EQ(classify_cudnn_status(status_of(code)), CudnnFault::environment) << code;
    EXPECT_STRNE(cudnn_environment_hint(status_of(code)), "") << code;
  }
  EXPECT_TRUE(throws_with(
      [] {
        nn::cuda_impl::throw_cudnn_error(CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING,
                                         "cudnnConvolutionForward", "conv.cpp", 7);
      },
      {"cudnnConvolutionForward", "conv.cpp:7", "status 3008", "cannot run in this installation", "NVRTC",
       "LD_LIBRARY_PATH"}));
  EXPECT_TRUE(throws_with(
      [] {
        nn::cuda_impl::throw_cudnn_error(CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER, "cudnnCreate", "h.cpp", 1);
      },
      {"status 3005", "driver"}));
}
#endif

}  // namespace
