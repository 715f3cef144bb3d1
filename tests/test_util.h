// Helpers shared by the test files: element-wise comparison that reports the worst element.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "layers/kernels.h"
#include "tensor/backend.h"
#include "tensor/factory.h"
#include "tensor/tensor.h"

namespace edat::testing {

// A random f64 tensor, uniform in [lo, hi] from `gen`: by default a leaf requiring grad, as the gradchecks want.
inline Tensor f64_input(Generator& gen, const Shape& shape, double lo, double hi, bool requires_grad = true) {
  Tensor t = uniform(shape, lo, hi, gen, {.dtype = DType::f64});
  if (requires_grad) t.set_requires_grad();
  return t;
}

// Passes when every |actual - expected| <= atol + rtol * |expected|; otherwise names the worst element.
inline ::testing::AssertionResult all_close(const std::vector<double>& actual, const std::vector<double>& expected,
                                            double rtol, double atol = 0) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure() << "sizes differ: " << actual.size() << " vs " << expected.size();
  }
  double worst = 0;
  std::size_t worst_i = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double ratio = std::abs(actual[i] - expected[i]) / (atol + rtol * std::abs(expected[i]) + 1e-300);
    if (!(ratio <= worst)) worst = std::isnan(ratio) ? INFINITY : ratio, worst_i = i;
  }
  if (worst <= 1.0) return ::testing::AssertionSuccess();
  std::ostringstream msg;
  msg.precision(10);
  msg << "element " << worst_i << ": actual " << actual[worst_i] << ", expected " << expected[worst_i]
      << " (error/tolerance " << worst << ", rtol " << rtol << ", atol " << atol << ")";
  return ::testing::AssertionFailure() << msg.str();
}

inline ::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double rtol,
                                            double atol = 0) {
  if (actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure() << "shapes differ: " << actual.desc() << " vs " << expected.desc();
  }
  return all_close(actual.to_vector<double>(), expected.to_vector<double>(), rtol, atol);
}

inline ::testing::AssertionResult all_close(const Tensor& actual, const std::vector<double>& expected, double rtol,
                                            double atol = 0) {
  return all_close(actual.to_vector<double>(), expected, rtol, atol);
}

// The same bytes (NaN payloads, -0 and all), possibly on different devices.
inline ::testing::AssertionResult bit_identical(const Tensor& a, const Tensor& b) {
  const Tensor ha = a.cpu(), hb = b.cpu();
  if (ha.dtype() != hb.dtype() || ha.shape() != hb.shape())
    return ::testing::AssertionFailure() << a.desc() << " vs " << b.desc();
  const auto* pa = static_cast<const unsigned char*>(ha.raw_data());
  const auto* pb = static_cast<const unsigned char*>(hb.raw_data());
  const std::size_t size = element_size(ha.dtype());
  for (std::size_t i = 0; i < ha.nbytes(); i += size) {
    if (std::memcmp(pa + i, pb + i, size) != 0) {
      return ::testing::AssertionFailure() << "element " << i / size << " differs: " << ha.to_vector<double>()[i / size]
                                           << " vs " << hb.to_vector<double>()[i / size];
    }
  }
  return ::testing::AssertionSuccess();
}

// Runs `statement` and checks that it throws edat::Error whose message contains every one of `parts`.
template <class F>
::testing::AssertionResult throws_with(F&& statement, std::initializer_list<std::string> parts) {
  try {
    statement();
  } catch (const Error& e) {
    const std::string what = e.what();
    for (const std::string& part : parts) {
      if (what.find(part) == std::string::npos)
        return ::testing::AssertionFailure() << "message '" << what << "' lacks '" << part << "'";
    }
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-edat exception: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

}  // namespace edat::testing

// Skips the current test when `path` (a std::filesystem::path) is absent, e.g. data from ../shared in a fresh clone.
#define EDAT_SKIP_WITHOUT(path)                                                                            \
  if (!std::filesystem::exists(path)) {                                                                    \
    GTEST_SKIP() << "not present: " << (path).string() << " (../shared is not in a fresh clone)";          \
  }

// Whether a test that needs a GPU fails, rather than skips, when there is none: EDAT_REQUIRE_GPU=1, set by
// scripts/gpu_check.sh on the GPU machine, where a skip would turn a broken driver or library into a false "ok".
namespace edat::testing {
inline bool gpu_required() {
  const char* value = std::getenv("EDAT_REQUIRE_GPU");
  return value != nullptr && std::string(value) == "1";
}
}  // namespace edat::testing

// Skips the current test when no CUDA device can be used, saying why (a build without CUDA, or the CUDA runtime's
// error: cudaErrorNoDevice, cudaErrorInsufficientDriver, ...); with EDAT_REQUIRE_GPU=1 it fails instead.
#define EDAT_REQUIRE_CUDA()                                                                               \
  if (const std::string edat_no_cuda_ = edat::cuda::unavailable_reason(); !edat_no_cuda_.empty()) {      \
    if (edat::testing::gpu_required()) FAIL() << "no CUDA device (EDAT_REQUIRE_GPU=1): " << edat_no_cuda_; \
    GTEST_SKIP() << "no CUDA device: " << edat_no_cuda_;                                                   \
  }

// Runs the statements; when they throw because cuDNN has no engine for their f64 problem (layers/kernels.h), skips
// the rest of the test with cuDNN's words instead of failing: that is a limit of cuDNN's legacy API, not an edat
// defect. The skip does not say "no CUDA device", so EDAT_REQUIRE_GPU=1 lets it stand.
#define EDAT_SKIP_IF_CUDNN_LACKS_F64(...)                                                                  \
  try {                                                                                                     \
    __VA_ARGS__;                                                                                            \
  } catch (const edat::Error& edat_error_) {                                                                \
    if (std::string(edat_error_.what()).find(edat::nn::kCudnnHasNoF64Engine) == std::string::npos) throw; \
    GTEST_SKIP() << edat_error_.what();                                                                     \
  }
