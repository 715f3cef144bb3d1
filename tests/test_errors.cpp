// Bad input gives edat::Error naming both operands' shapes, dtypes and devices; never a crash.
#include "autograd/ops.h"
#include "tensor/backend.h"
#include "tensor/factory.h"
#include "tests/test_util.h"

using namespace edat;
using edat::testing::throws_with;

namespace {
// A tensor that claims to live on cuda:0 without touching any CUDA API, to test device checks on any machine.
// Its data pointer is null: only checks that run before any kernel may see it.
Tensor fake_cuda_tensor(const Shape& shape) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(nullptr, 0, Device::cuda(0), false, nullptr);
  impl->shape = shape;
  return Tensor(impl);
}
}  // namespace

TEST(Errors, ShapeMismatchNamesBothOperands) {
  EXPECT_TRUE(throws_with([] { ones({2, 3}) + ones({4}); }, {"add", "f32[2, 3] on cpu", "f32[4] on cpu"}));
  EXPECT_TRUE(throws_with([] { ones({2, 3}) * ones({3, 2}); }, {"mul", "[2, 3]", "[3, 2]"}));
  EXPECT_TRUE(throws_with([] { matmul(ones({2, 3}), ones({2, 3})); }, {"matmul", "inner", "[2, 3]"}));
  EXPECT_TRUE(throws_with([] { matmul(ones({2, 3, 1}), ones({1, 3})); }, {"matmul", "2-D", "[2, 3, 1]"}));
  EXPECT_TRUE(throws_with([] { transpose(ones({2})); }, {"transpose", "f32[2]"}));
}

TEST(Errors, DtypeMismatch) {
  EXPECT_TRUE(throws_with([] { ones({2}) - ones({2}, {.dtype = DType::f64}); },
                          {"sub", "dtype mismatch", "f32[2] on cpu", "f64[2] on cpu"}));
  EXPECT_TRUE(throws_with([] { exp(ones({2}, {.dtype = DType::i64})); }, {"exp", "i64[2]"}));
}

TEST(Errors, DeviceMismatch) {
  EXPECT_TRUE(throws_with([] { ones({2}) / fake_cuda_tensor({2}); },
                          {"div", "device mismatch", "f32[2] on cpu", "f32[2] on cuda:0"}));
}

TEST(Errors, DimsAndViews) {
  EXPECT_TRUE(throws_with([] { sum(ones({2, 3}), {2}); }, {"sum", "dim 2", "rank 2"}));
  EXPECT_TRUE(throws_with([] { sum(ones({2, 3}), {1, -1}); }, {"sum", "twice"}));
  EXPECT_TRUE(throws_with([] { max(ones({2, 0}), 1); }, {"max", "empty"}));
  EXPECT_TRUE(throws_with([] { reshape(ones({2, 3}), {4, 2}); }, {"view", "[4, 2]", "f32[2, 3]"}));
  EXPECT_TRUE(throws_with([] { reshape(ones({2, 3}), {-1, -1}); }, {"more than one -1"}));
  EXPECT_TRUE(throws_with([] { expand(ones({2, 3}), {3, 3}); }, {"expand", "f32[2, 3]", "[3, 3]"}));
  EXPECT_TRUE(throws_with([] { flatten(ones({2, 3}), 1, 0); }, {"flatten"}));
}

TEST(Errors, ElementAccess) {
  EXPECT_TRUE(throws_with([] { ones({2}).item(); }, {"item", "f32[2]"}));
  EXPECT_TRUE(throws_with([] { ones({2, 2}).at({0, 2}); }, {"at", "index 2"}));
  EXPECT_TRUE(throws_with([] { ones({2}).data<double>(); }, {"data<f64>", "f32[2]"}));
  EXPECT_TRUE(throws_with([] { ones({2}).copy_(ones({3})); }, {"copy_", "f32[3]", "f32[2]"}));
  EXPECT_TRUE(throws_with([] { Tensor().shape(); }, {"undefined"}));
  EXPECT_TRUE(throws_with([] { ones({2}) + Tensor(); }, {"add", "undefined"}));
}

TEST(Errors, Factories) {
  EXPECT_TRUE(throws_with([] { zeros({2, -1}); }, {"negative size", "[2, -1]"}));
  EXPECT_TRUE(throws_with([] { arange(0, 1, 0); }, {"arange", "non-zero"}));
  EXPECT_TRUE(throws_with([] { arange(0, 1, -1); }, {"arange"}));
  EXPECT_TRUE(throws_with([] { from_vector({1, 2, 3}, {2, 2}); }, {"from_vector", "3 values", "[2, 2]"}));
  Generator gen(0);
  EXPECT_TRUE(throws_with([&] { uniform({2}, 1, 0, gen); }, {"uniform"}));
  EXPECT_TRUE(throws_with([&] { normal({2}, 0, -1, gen); }, {"normal"}));
}

TEST(Errors, CudaWithoutCuda) {
  if (cuda::is_available()) GTEST_SKIP() << "a CUDA device is present";
  const std::string expected = cuda::is_built() ? "not available" : "no CUDA backend";
  EXPECT_TRUE(throws_with([] { ones({2}, {.device = Device::cuda(0)}); }, {"cuda:0", expected}));
  // The reason is the runtime's own: its error name (cudaErrorNoDevice, cudaErrorInsufficientDriver, ...), kept
  // rather than turned into a silent 0.
  const std::string reason = cuda::unavailable_reason();
  EXPECT_TRUE(throws_with([] { ones({2}, {.device = Device::cuda(0)}); }, {reason}));
  if (cuda::is_built()) {
    EXPECT_TRUE(reason.find("cudaError") != std::string::npos || reason.find("0 devices") != std::string::npos)
        << reason;
  }
}

TEST(Errors, UnavailableReasonIsEmptyExactlyWhenCudaIsAvailable) {
  EXPECT_EQ(cuda::unavailable_reason().empty(), cuda::is_available()) << cuda::unavailable_reason();
}
