// Helpers shared by the test files: element-wise comparison that reports the worst element.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "tensor/backend.h"
#include "tensor/tensor.h"

namespace edat::testing {

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

// Skips the current test when no CUDA device can be used, saying why (no GPU here, or a build without CUDA).
#define EDAT_REQUIRE_CUDA()          \
  if (!edat::cuda::is_available())   \
  GTEST_SKIP() << "no CUDA device: " \
               << (edat::cuda::is_built() ? "this machine has no GPU or driver" : "this build has no CUDA backend")
