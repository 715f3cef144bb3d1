// Lesson 2 (docs/learn/02-convolution.md): convolution as im2col + GEMM, forward and both backwards, for a 1x3x4x4
// input and a 2x3x3x3 weight (padding 1, stride 1), checked against edat's conv2d and its autograd gradients, and
// against the textbook direct loops of layers/reference/. Then the numbers behind the fast kernel's chunking.
#include <cstdio>
#include <vector>

#include "autograd/ops.h"
#include "layers/cpu/cpu_layer_kernels.h"
#include "layers/functional.h"
#include "layers/reference/reference_layer_kernels.h"
#include "learn/lesson.h"
#include "tensor/factory.h"

using namespace edat;
using learn::expect;

namespace {

constexpr std::int64_t C = 3, H = 4, W = 4, K = 2, R = 3, S = 3, P = 4, Q = 4, pad = 1;

// Calls visit(col_index, x_index) for every entry of the column matrix that holds an input element (the rest is
// padding, 0): col[(c, r, s), (p, q)] = x[c, p - pad + r, q - pad + s].
template <class Visit>
void for_each_column_entry(Visit&& visit) {
  for (std::int64_t c = 0; c < C; ++c)
    for (std::int64_t r = 0; r < R; ++r)
      for (std::int64_t s = 0; s < S; ++s)
        for (std::int64_t p = 0; p < P; ++p)
          for (std::int64_t q = 0; q < Q; ++q) {
            const std::int64_t h = p - pad + r, w = q - pad + s;
            if (h >= 0 && h < H && w >= 0 && w < W)
              visit(((c * R + r) * S + s) * P * Q + p * Q + q, (c * H + h) * W + w);
          }
}

// Each column is one output position's receptive field, unrolled (layers/cpu/conv2d_cpu.cpp does the same per chunk
// of samples).
Tensor im2col(const Tensor& x) {
  const std::vector<double> xv = x.to_vector<double>();
  std::vector<double> col(C * R * S * P * Q, 0.0);
  for_each_column_entry([&](std::int64_t ci, std::int64_t xi) { col[ci] = xv[xi]; });
  return from_vector(col, {C * R * S, P * Q}, {.dtype = DType::f64});
}

// The adjoint of im2col: every entry of dcol is added back onto the input element it was copied from.
Tensor col2im(const Tensor& dcol) {
  const std::vector<double> d = dcol.to_vector<double>();
  std::vector<double> dx(C * H * W, 0.0);
  for_each_column_entry([&](std::int64_t ci, std::int64_t xi) { dx[xi] += d[ci]; });
  return from_vector(dx, {1, C, H, W}, {.dtype = DType::f64});
}

}  // namespace

int main() {
  const Options f64{.dtype = DType::f64};
  // x[c, h, w] = (16 c + 4 h + w) / 10; weight entries are small integers -2 .. 2.
  Tensor x = arange(0, C * H * W, 1, f64).untracked_view({1, C, H, W}) / 10.0;
  std::vector<double> wv;
  for (int i = 0; i < K * C * R * S; ++i) wv.push_back(i % 5 - 2);
  Tensor weight = from_vector(wv, {K, C, R, S}, f64);
  x.set_requires_grad();
  weight.set_requires_grad();
  const nn::Conv2dOptions options{.pad_h = pad, .pad_w = pad};

  // ---- forward: y (K, P Q) = weight (K, C R S) @ col (C R S, P Q) ----
  Tensor col = im2col(x.detach());
  learn::print_matrix("col = im2col(x): a row per (c, r, s), a column per output position (p, q)", col, C * R * S,
                      P * Q, "%5.1f");
  Tensor w2 = weight.detach().untracked_view({K, C * R * S});
  Tensor y_gemm = matmul(w2, col);
  learn::print_matrix("y = weight (2 x 27) @ col (27 x 16)", y_gemm, K, P * Q, "%6.1f");
  Tensor y = nn::conv2d(x, weight, Tensor(), options);
  expect(learn::max_abs_diff(y.untracked_view({K, P * Q}), y_gemm) < 1e-12, "im2col + GEMM = nn::conv2d (forward)");

  // The textbook loops: y[k, p, q] = sum over (c, r, s) of weight[k, c, r, s] x[c, p - 1 + r, q - 1 + s].
  Tensor y_direct = zeros({1, K, P, Q}, f64);
  nn::reference::reference_layer_kernels().conv2d_forward(x.detach(), weight.detach(), Tensor(), y_direct, options);
  expect(learn::max_abs_diff(y_direct.untracked_view({K, P * Q}), y_gemm) < 1e-12,
         "im2col + GEMM = the direct loops of layers/reference/ (forward)");

  // ---- backward: loss = sum(y * dy), so dLoss/dy = dy ----
  std::vector<double> dyv;
  for (int i = 0; i < K * P * Q; ++i) dyv.push_back((i % 7 - 3) / 2.0);
  Tensor dy = from_vector(dyv, {K, P * Q}, f64);
  sum(y * dy.untracked_view({1, K, P, Q})).backward();

  // Filter gradient: every output position contributed weight . column, so dweight = dy @ col^T.
  Tensor dweight = matmul(dy, col, false, true);
  learn::print_matrix("dweight = dy (2 x 16) @ col^T (16 x 27)", dweight, K, C * R * S, "%6.1f");
  expect(learn::max_abs_diff(weight.grad().untracked_view({K, C * R * S}), dweight) < 1e-12,
         "dweight = dy @ col^T equals autograd's weight.grad (kernel: conv2d_backward_filter)");

  // Data gradient: dcol = weight^T @ dy, then col2im adds each column entry back where im2col copied it from.
  Tensor dcol = matmul(w2, dy, true, false);
  Tensor dx = col2im(dcol);
  learn::print_matrix("dx = col2im(weight^T @ dy), channel 0", dx, H, W, "%6.1f");
  expect(learn::max_abs_diff(x.grad(), dx) < 1e-12,
         "dx = col2im(weight^T @ dy) equals autograd's x.grad (kernel: conv2d_backward_data)");

  // ---- why the fast kernel chunks: the column matrix is R S times bigger than the input ----
  // One sample's column matrix is (C R S) x (P Q) elements. For ResNet-34's 3x3 convolutions at 128 px input:
  const std::size_t budget = nn::cpu_impl::conv2d_column_budget();
  std::printf("\nthe fast CPU kernel keeps each chunk's column matrix under %zu MiB:\n", budget >> 20);
  struct Stage {
    const char* name;
    std::int64_t channels, side;
  };
  for (const Stage& st :
       {Stage{"layer1", 64, 32}, Stage{"layer2", 128, 16}, Stage{"layer3", 256, 8}, Stage{"layer4", 512, 4}}) {
    const std::int64_t rows = st.channels * 9, cols = st.side * st.side;
    const double mib = static_cast<double>(rows * cols * 4) / (1 << 20);
    // conv2d_cpu.cpp's chunk_size: enough samples for a GEMM 512 columns wide, as far as the budget allows.
    const std::int64_t wide = (512 + cols - 1) / cols, fit = static_cast<std::int64_t>(budget) / (rows * cols * 4);
    const std::int64_t per_chunk = std::max<std::int64_t>(1, std::min(wide, fit));
    std::printf(
        "  %s: col %5lld x %4lld = %6.2f MiB per sample (f32): %3lld samples per chunk, GEMM %lld columns wide\n",
        st.name, static_cast<long long>(rows), static_cast<long long>(cols), mib, static_cast<long long>(per_chunk),
        static_cast<long long>(per_chunk * cols));
  }
  expect(budget == std::size_t{16} << 20, "the column budget is 16 MiB (layers/cpu/conv2d_cpu.cpp)");
  return learn::finish("lesson 2");
}
