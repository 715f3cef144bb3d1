// How the CPU convolutions (conv2d_cpu.cpp, winograd_conv2d_cpu.cpp, unrolled_conv2d_cpu.cpp) share out their work
// and memory: threads that each take their own samples, scratch buffers per thread that are kept between calls, and a
// GEMM cut into one block per thread.
#pragma once

#include <omp.h>

#include <Eigen/Core>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>

#include "layers/cpu/conv2d_geometry.h"
#include "tensor/cpu/cpu_backend.h"
#include "tensor/error.h"

namespace edat::nn::cpu_impl {

// Samples are batched into one GEMM until it is this many columns wide.
constexpr std::int64_t kTargetWidth = 512;
// Convolutions below this many multiply-adds run on one thread.
constexpr double kParallelMacs = 1 << 21;

// How many threads take samples of their own (1: the samples are processed together, see conv2d_cpu.cpp's header
// comment).
inline int sample_threads(const Geometry& g) {
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads == 1 || g.macs() < kParallelMacs || g.N < threads) return 1;
  return (g.N / threads) * g.pq() >= kTargetWidth / 2 ? threads : 1;
}

// Runs body(first, last, thread) on up to `threads` threads, each with its share of samples [0, N), and returns how
// many ran. An exception thrown by one is rethrown after the parallel region (it may not leave the region).
template <class F>
int for_each_sample_share(int threads, std::int64_t N, F&& body) {
  if (threads == 1) {
    body(std::int64_t{0}, N, 0);
    return 1;
  }
  std::exception_ptr error;
  int team = 1;
#pragma omp parallel num_threads(threads)
  {
    const std::int64_t t = omp_get_thread_num(), n = omp_get_num_threads();
    if (t == 0) team = static_cast<int>(n);
    try {
      body(N * t / n, N * (t + 1) / n, static_cast<int>(t));
    } catch (...) {
#pragma omp critical(edat_conv2d_error)
      error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  return team;
}

// The scratch buffers of a thread: im2col's columns, a staged chunk, the filter gradient's partial sums, and
// Winograd's transformed weights, inputs and products. The depthwise kernels (depthwise_conv2d_cpu.cpp) hold their
// padded planes in the first two.
enum Slot { kColumns, kStaging, kPartials, kWinogradWeights, kWinogradInputs, kWinogradProducts, kSlots };

// A growing, 64-byte aligned scratch buffer per thread and slot, kept between calls so that the training loop
// neither allocates nor page-faults it again.
template <class T>
T* scratch(int slot, std::int64_t count) {
  struct Buffer {
    std::unique_ptr<void, decltype(&std::free)> data{nullptr, &std::free};
    std::size_t bytes = 0;
  };
  thread_local Buffer buffers[kSlots];
  Buffer& b = buffers[slot];
  const std::size_t bytes = (static_cast<std::size_t>(count) * sizeof(T) + 63) / 64 * 64;
  if (bytes > b.bytes) {
    b.data.reset();
    b.data.reset(std::aligned_alloc(64, bytes));
    EDAT_CHECK(b.data, "conv2d: cannot allocate a " << bytes << "-byte column buffer");
    b.bytes = bytes;
  }
  return static_cast<T*>(b.data.get());
}

// y (N, K, PQ) += bias[k] on every plane of channel k.
template <class T>
void add_bias(T* y, const T* bias, std::int64_t N, std::int64_t K, std::int64_t PQ) {
#pragma omp parallel for schedule(static) if (N * K * PQ > edat::cpu_impl::kParallelGrain)
  for (std::int64_t plane = 0; plane < N * K; ++plane)
    for (std::int64_t i = 0; i < PQ; ++i) y[plane * PQ + i] += bias[plane % K];
}

template <class T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MatrixMap = Eigen::Map<RowMajor<T>>;
template <class T>
using ConstMatrixMap = Eigen::Map<const RowMajor<T>>;

// out (+)= lhs rhs on every OpenMP thread. Eigen's own parallel GEMM synchronises its threads on every block and
// gained little over one thread on these shapes here (64 x 576 @ 576 x 12544: 66 vs 61 GFLOP/s); instead the output
// is cut into one block of columns per thread (rows when it is taller than wide) and each thread runs
// Eigen's single-threaded GEMM on its block (Eigen stays single-threaded inside a parallel region).
template <class T, class Lhs, class Rhs>
void gemm(MatrixMap<T> out, const Lhs& lhs, const Rhs& rhs, bool accumulate) {
  const std::int64_t rows = out.rows(), cols = out.cols();
  const int threads = omp_get_max_threads();
  const bool by_columns = cols >= rows;
  const std::int64_t extent = by_columns ? cols : rows;
  if (threads == 1 || omp_in_parallel() || rows * cols * lhs.cols() < (std::int64_t{1} << 20) || extent < 32) {
    if (accumulate) {
      out.noalias() += lhs * rhs;
    } else {
      out.noalias() = lhs * rhs;
    }
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    // Block boundaries on multiples of 16 elements (one AVX-512 register of floats).
    const std::int64_t t = omp_get_thread_num(), n = omp_get_num_threads();
    const std::int64_t begin = extent * t / n / 16 * 16;
    const std::int64_t end = t + 1 == n ? extent : extent * (t + 1) / n / 16 * 16;
    if (end > begin) {
      if (by_columns) {
        auto block = out.middleCols(begin, end - begin);
        if (accumulate) {
          block.noalias() += lhs * rhs.middleCols(begin, end - begin);
        } else {
          block.noalias() = lhs * rhs.middleCols(begin, end - begin);
        }
      } else {
        auto block = out.middleRows(begin, end - begin);
        if (accumulate) {
          block.noalias() += lhs.middleRows(begin, end - begin) * rhs;
        } else {
          block.noalias() = lhs.middleRows(begin, end - begin) * rhs;
        }
      }
    }
  }
}

}  // namespace edat::nn::cpu_impl
