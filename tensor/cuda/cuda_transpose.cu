// transpose2d: out (n, m) = x (m, n)^T, through 32x32 tiles in shared memory so that both the reads of x and
// the writes of out are coalesced (a naive transpose makes one of them stride by a whole row).
// Elements are moved as raw words of their size, so every dtype works.
#include <algorithm>
#include <cstdint>

#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_kernels.h"

namespace edat::cuda_impl {

namespace {

constexpr int kTile = 32;
constexpr int kTileRows = 8;  // a block is kTile x kTileRows threads; each thread moves kTile / kTileRows elements

template <class Word>
__global__ void transpose_kernel(const Word* x, Word* out, std::int64_t m, std::int64_t n) {
  __shared__ Word tile[kTile][kTile + 1];  // +1 column: the column reads below hit distinct banks
  const std::int64_t tiles_m = (m + kTile - 1) / kTile, tiles_n = (n + kTile - 1) / kTile;
  for (std::int64_t tm = blockIdx.y; tm < tiles_m; tm += gridDim.y) {  // loops are uniform over the block
    for (std::int64_t tn = blockIdx.x; tn < tiles_n; tn += gridDim.x) {
      // Read tile (tm, tn) of x row by row: tile[r][c] = x[tm*32 + r, tn*32 + c].
      const std::int64_t x_col = tn * kTile + threadIdx.x;
      for (int r = threadIdx.y; r < kTile; r += kTileRows) {
        const std::int64_t x_row = tm * kTile + r;
        if (x_row < m && x_col < n) tile[r][threadIdx.x] = x[x_row * n + x_col];
      }
      __syncthreads();
      // Write it to tile (tn, tm) of out, again row by row: out[tn*32 + c, tm*32 + r] = tile[r][c].
      const std::int64_t out_col = tm * kTile + threadIdx.x;
      for (int c = threadIdx.y; c < kTile; c += kTileRows) {
        const std::int64_t out_row = tn * kTile + c;
        if (out_row < n && out_col < m) out[out_row * m + out_col] = tile[threadIdx.x][c];
      }
      __syncthreads();  // the tile is refilled by the next iteration
    }
  }
}

template <class Word>
void launch_transpose(const Tensor& x, Tensor& out, std::int64_t m, std::int64_t n) {
  const std::int64_t tiles_m = (m + kTile - 1) / kTile, tiles_n = (n + kTile - 1) / kTile;
  const dim3 blocks(static_cast<unsigned>(std::min<std::int64_t>(tiles_n, 65535)),
                    static_cast<unsigned>(std::min<std::int64_t>(tiles_m, 65535)));
  transpose_kernel<<<blocks, dim3(kTile, kTileRows), 0, current_stream()>>>(static_cast<const Word*>(x.raw_data()),
                                                                            static_cast<Word*>(out.raw_data()), m, n);
  EDAT_CUDA_CHECK_LAUNCH();
}

}  // namespace

void transpose2d(const Tensor& x, Tensor& out) {
  EDAT_CHECK(x.dim() == 2, "transpose2d: expected a 2-D tensor, got " << x.desc());
  const std::int64_t m = x.size(0), n = x.size(1);
  if (m == 0 || n == 0) return;
  switch (element_size(x.dtype())) {
    case 2:
      return launch_transpose<std::uint16_t>(x, out, m, n);
    case 4:
      return launch_transpose<std::uint32_t>(x, out, m, n);
    case 8:
      return launch_transpose<std::uint64_t>(x, out, m, n);
    default:
      throw Error(std::string("transpose2d: unsupported dtype ") + dtype_name(x.dtype()) + " on CUDA");
  }
}

}  // namespace edat::cuda_impl
