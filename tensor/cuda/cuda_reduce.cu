// Reductions over one run of dims, the tensor viewed as (outer, reduced, inner) row-major:
//   sum_dim:          out[o, i] = sum over r of x[o, r, i]           (accumulated in the element type)
//   max_dim:          values[o, i] = max over r of x[o, r, i], indices[o, i] = the first r reaching it
//   max_dim_backward: grad_x[o, indices[o, i], i] += grad_values[o, i]
//
// Two kernel shapes:
//   rows    (inner == 1, long rows): a block per row (or per chunk of a row), threads stride along the row and
//           combine with warp shuffles and shared memory;
//   columns (inner > 1, or short rows): a thread per output element (or per chunk of its column) walks r;
//           neighbouring threads read neighbouring i, so loads coalesce.
// When the outputs alone cannot fill the GPU (a whole-tensor sum is one output), each output is split into
// chunks: a first pass writes one partial sum per chunk to a scratch buffer, and the partials are summed by the
// same code again ((outer, splits, 1) for rows, (1, splits, outer * inner) for columns) until one pass suffices.
#include <algorithm>
#include <cstdint>

#include "tensor/cuda/cuda_allocator.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_kernels.h"
#include "tensor/cuda/grid_stride.cuh"

namespace edat::cuda_impl {

namespace {

constexpr std::int64_t kRowMin = 64;                         // rows shorter than this take the column kernel
constexpr std::int64_t kRowChunkMin = 8 * kThreadsPerBlock;  // elements per block before a row is split
constexpr std::int64_t kColumnChunkMin = 32;                 // elements per thread before a column is split

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// ---- sum ----

template <class T>
__device__ T warp_sum(T value) {
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_down_sync(0xffffffffu, value, offset);
  return value;
}

// The sum of `value` over the block, valid in thread 0. blockDim.x must be a multiple of 32.
template <class T>
__device__ T block_sum(T value) {
  __shared__ T warp_sums[32];
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  value = warp_sum(value);
  if (lane == 0) warp_sums[warp] = value;
  __syncthreads();
  value = threadIdx.x < blockDim.x / 32 ? warp_sums[threadIdx.x] : T(0);
  if (warp == 0) value = warp_sum(value);
  __syncthreads();  // warp_sums is rewritten by the block's next call
  return value;
}

// out[row * splits + s] = sum of chunk s of row `row` of x (rows, reduced).
template <class T>
__global__ void sum_rows_kernel(const T* x, T* out, std::int64_t rows, std::int64_t reduced, std::int64_t splits) {
  const std::int64_t chunk = (reduced + splits - 1) / splits;
  for (std::int64_t b = blockIdx.x; b < rows * splits; b += gridDim.x) {  // uniform over the block
    const std::int64_t row = b / splits;
    const std::int64_t begin = (b - row * splits) * chunk;
    const std::int64_t end = begin + chunk < reduced ? begin + chunk : reduced;
    const T* x_row = x + row * reduced;
    T sum = T(0);
    for (std::int64_t r = begin + threadIdx.x; r < end; r += blockDim.x) sum += x_row[r];
    sum = block_sum(sum);
    if (threadIdx.x == 0) out[b] = sum;
  }
}

// out[s, o, i] = sum over r in chunk s of x[o, r, i].
template <class T>
__global__ void sum_columns_kernel(const T* x, T* out, std::int64_t outer, std::int64_t reduced, std::int64_t inner,
                                   std::int64_t splits) {
  const std::int64_t outputs = outer * inner;
  const std::int64_t chunk = (reduced + splits - 1) / splits;
  for (std::int64_t t = first_index(); t < outputs * splits; t += grid_stride()) {
    const std::int64_t split = t / outputs;
    const std::int64_t o = (t - split * outputs) / inner;
    const std::int64_t i = t - split * outputs - o * inner;
    const std::int64_t begin = split * chunk;
    const std::int64_t end = begin + chunk < reduced ? begin + chunk : reduced;
    const T* column = x + o * reduced * inner + i;
    T sum = T(0);
    for (std::int64_t r = begin; r < end; ++r) sum += column[r * inner];
    out[t] = sum;
  }
}

template <class T>
void sum_layout(const T* x, T* out, ReduceLayout layout, int device) {
  const std::int64_t outputs = layout.outer * layout.inner;
  if (outputs == 0) return;
  if (layout.reduced == 0) {  // an empty sum is 0 (all-zero bits for f32 and f64)
    EDAT_CUDA_CHECK(cudaMemsetAsync(out, 0, static_cast<std::size_t>(outputs) * sizeof(T), current_stream()));
    return;
  }
  const std::int64_t sms = multiprocessor_count();
  if (layout.inner == 1 && layout.reduced >= kRowMin) {
    const std::int64_t target_blocks = sms * (2048 / kThreadsPerBlock);  // a full GPU of resident threads
    std::int64_t splits = 1;
    if (layout.outer < target_blocks && layout.reduced > kRowChunkMin) {
      splits = std::min(ceil_div(target_blocks, layout.outer), ceil_div(layout.reduced, kRowChunkMin));
    }
    const std::int64_t blocks = std::min(layout.outer * splits, sms * 32);
    auto launch = [&](T* dst) {
      sum_rows_kernel<<<static_cast<int>(blocks), kThreadsPerBlock, 0, current_stream()>>>(x, dst, layout.outer,
                                                                                           layout.reduced, splits);
      EDAT_CUDA_CHECK_LAUNCH();
    };
    if (splits == 1) return launch(out);
    DeviceBuffer partial(static_cast<std::size_t>(layout.outer * splits) * sizeof(T), device);
    launch(partial.as<T>());
    return sum_layout(partial.as<const T>(), out, {layout.outer, splits, 1}, device);
  }
  const std::int64_t target_threads = sms * 2048;
  std::int64_t splits = 1;
  if (outputs < target_threads && layout.reduced >= 2 * kColumnChunkMin) {
    splits = std::min(ceil_div(target_threads, outputs), layout.reduced / kColumnChunkMin);
  }
  auto launch = [&](T* dst) {
    sum_columns_kernel<<<grid_size(outputs * splits), kThreadsPerBlock, 0, current_stream()>>>(
        x, dst, layout.outer, layout.reduced, layout.inner, splits);
    EDAT_CUDA_CHECK_LAUNCH();
  };
  if (splits == 1) return launch(out);
  DeviceBuffer partial(static_cast<std::size_t>(outputs * splits) * sizeof(T), device);
  launch(partial.as<T>());
  sum_layout(partial.as<const T>(), out, {1, splits, outputs}, device);
}

// ---- max ----

// Whether candidate (value, index) beats the current best, with the CPU's rule: a NaN beats every number (as in
// PyTorch), otherwise a larger value wins, and between equals (or two NaNs) the earlier index.
// index < 0 marks "nothing seen yet".
template <class T>
__device__ bool beats(T value, std::int64_t index, T best, std::int64_t best_index) {
  if (index < 0) return false;
  if (best_index < 0) return true;
  const bool value_nan = value != value, best_nan = best != best;
  if (value_nan || best_nan) return value_nan && (!best_nan || index < best_index);
  return value > best || (value == best && index < best_index);
}

template <class T>
__device__ void warp_argmax(T& best, std::int64_t& best_index) {
  for (int offset = 16; offset > 0; offset /= 2) {
    const T value = __shfl_down_sync(0xffffffffu, best, offset);
    const std::int64_t index = __shfl_down_sync(0xffffffffu, best_index, offset);
    if (beats(value, index, best, best_index)) best = value, best_index = index;
  }
}

// values[row] / indices[row] = max / first argmax of row `row` of x (rows, reduced): each thread scans its
// elements in order, then the block combines the (value, index) pairs with `beats`.
template <class T>
__global__ void max_rows_kernel(const T* x, T* values, std::int64_t* indices, std::int64_t rows, std::int64_t reduced) {
  __shared__ T warp_best[32];
  __shared__ std::int64_t warp_index[32];
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (std::int64_t row = blockIdx.x; row < rows; row += gridDim.x) {  // uniform over the block
    const T* x_row = x + row * reduced;
    T best = T(0);
    std::int64_t best_index = -1;
    for (std::int64_t r = threadIdx.x; r < reduced; r += blockDim.x) {
      const T value = x_row[r];
      if (beats(value, r, best, best_index)) best = value, best_index = r;
    }
    warp_argmax(best, best_index);
    if (lane == 0) warp_best[warp] = best, warp_index[warp] = best_index;
    __syncthreads();
    best = threadIdx.x < blockDim.x / 32 ? warp_best[threadIdx.x] : T(0);
    best_index = threadIdx.x < blockDim.x / 32 ? warp_index[threadIdx.x] : -1;
    if (warp == 0) warp_argmax(best, best_index);
    if (threadIdx.x == 0) values[row] = best, indices[row] = best_index < 0 ? 0 : best_index;
    __syncthreads();
  }
}

// One thread per output (o, i), scanning r in order exactly like the CPU: strictly greater keeps the first
// maximum, and the first NaN wins and stays.
template <class T>
__global__ void max_columns_kernel(const T* x, T* values, std::int64_t* indices, std::int64_t outer,
                                   std::int64_t reduced, std::int64_t inner) {
  for (std::int64_t t = first_index(); t < outer * inner; t += grid_stride()) {
    const std::int64_t o = t / inner, i = t - o * inner;
    const T* column = x + o * reduced * inner + i;
    T best = column[0];
    std::int64_t best_index = 0;
    for (std::int64_t r = 1; r < reduced && best == best; ++r) {
      const T value = column[r * inner];
      if (value > best || value != value) best = value, best_index = r;
    }
    values[t] = best;
    indices[t] = best_index;
  }
}

// grad_x[o, indices[o, i], i] += grad_values[o, i]: distinct outputs hit distinct elements, so no atomics.
template <class T>
__global__ void max_backward_kernel(const T* grad_values, const std::int64_t* indices, T* grad_x, std::int64_t outer,
                                    std::int64_t reduced, std::int64_t inner) {
  for (std::int64_t t = first_index(); t < outer * inner; t += grid_stride()) {
    const std::int64_t o = t / inner, i = t - o * inner;
    const std::int64_t r = indices[t];
    if (r >= 0 && r < reduced) grad_x[(o * reduced + r) * inner + i] += grad_values[t];
  }
}

}  // namespace

void sum_dim(const Tensor& x, Tensor& out, ReduceLayout layout) {
  dispatch_floating(x.dtype(), "sum", [&](auto zero) {
    using T = decltype(zero);
    sum_layout(static_cast<const T*>(x.raw_data()), static_cast<T*>(out.raw_data()), layout, x.device().index);
  });
}

void max_dim(const Tensor& x, Tensor& values, Tensor& indices, ReduceLayout layout) {
  const std::int64_t outputs = layout.outer * layout.inner;
  if (outputs == 0) return;
  EDAT_CHECK(layout.reduced > 0, "max: cannot reduce over an empty dim of " << x.desc());
  dispatch_floating(x.dtype(), "max", [&](auto zero) {
    using T = decltype(zero);
    const T* px = static_cast<const T*>(x.raw_data());
    T* pv = static_cast<T*>(values.raw_data());
    std::int64_t* pi = static_cast<std::int64_t*>(indices.raw_data());
    if (layout.inner == 1 && layout.reduced >= kRowMin) {
      const std::int64_t blocks = std::min<std::int64_t>(layout.outer, multiprocessor_count() * 32);
      max_rows_kernel<<<static_cast<int>(blocks), kThreadsPerBlock, 0, current_stream()>>>(px, pv, pi, layout.outer,
                                                                                           layout.reduced);
    } else {
      max_columns_kernel<<<grid_size(outputs), kThreadsPerBlock, 0, current_stream()>>>(px, pv, pi, layout.outer,
                                                                                        layout.reduced, layout.inner);
    }
    EDAT_CUDA_CHECK_LAUNCH();
  });
}

void max_dim_backward(const Tensor& grad_values, const Tensor& indices, Tensor& grad_x, ReduceLayout layout) {
  const std::int64_t outputs = layout.outer * layout.inner;
  if (outputs == 0) return;
  dispatch_floating(grad_x.dtype(), "max backward", [&](auto zero) {
    using T = decltype(zero);
    max_backward_kernel<<<grid_size(outputs), kThreadsPerBlock, 0, current_stream()>>>(
        static_cast<const T*>(grad_values.raw_data()), static_cast<const std::int64_t*>(indices.raw_data()),
        static_cast<T*>(grad_x.raw_data()), layout.outer, layout.reduced, layout.inner);
    EDAT_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace edat::cuda_impl
