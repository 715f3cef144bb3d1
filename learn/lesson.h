// What every lesson program of docs/learn/ shares: printing small tensors and checking the identities a chapter
// teaches. A lesson prints "check ok: ..." per identity and "<lesson>: all checks passed" at the end; a failed check
// prints "CHECK FAILED: ..." and makes the program exit 1, so ctest (learn/CMakeLists.txt) catches a guide gone stale.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace edat::learn {

inline int& failures() {
  static int count = 0;
  return count;
}

// Prints the verdict of one identity the text relies on.
inline void expect(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "check ok:" : "CHECK FAILED:", what.c_str());
  if (!ok) ++failures();
}

// |a - b| <= tol (1 + |b|): a tolerance relative to the size of the expected value.
inline bool close(double a, double b, double tol) { return std::abs(a - b) <= tol * (1 + std::abs(b)); }

// The largest |a - b| over two tensors of the same shape.
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double worst = x.size() == y.size() ? 0 : INFINITY;
  for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}

// Prints a 2-D tensor (or any tensor viewed as rows x cols) with a title, one row a line.
inline void print_matrix(const char* title, const Tensor& t, std::int64_t rows, std::int64_t cols,
                         const char* format = "%7.2f") {
  std::printf("%s (%lld x %lld):\n", title, static_cast<long long>(rows), static_cast<long long>(cols));
  const std::vector<double> v = t.to_vector<double>();
  for (std::int64_t r = 0; r < rows; ++r) {
    std::printf("  ");
    for (std::int64_t c = 0; c < cols; ++c) std::printf(format, v[static_cast<std::size_t>(r * cols + c)]);
    std::printf("\n");
  }
}

// The last line of every lesson: its exit status.
inline int finish(const char* lesson) {
  if (failures() == 0) {
    std::printf("%s: all checks passed\n", lesson);
    return 0;
  }
  std::printf("%s: %d check(s) FAILED\n", lesson, failures());
  return 1;
}

}  // namespace edat::learn
