// Max pooling and adaptive average pooling, forward and backward side by side; the kernels are in cpu/ and cuda/.
#include "autograd/ops/common.h"
#include "layers/functional.h"
#include "layers/kernels.h"

namespace edat::nn {
using namespace ops_detail;

namespace {

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

void check_image(const char* op, const Tensor& x) {
  check_floating(op, x);
  EDAT_CHECK(x.dim() == 4, op << ": expects a 4-D input (N, C, H, W), got " << x.desc());
  EDAT_CHECK(x.size(2) > 0 && x.size(3) > 0, op << ": input " << x.desc() << " has an empty spatial dim");
}

}  // namespace

std::int64_t pool_output_size(std::int64_t in, std::int64_t k, std::int64_t stride, std::int64_t pad,
                              std::int64_t dilation, bool ceil_mode) {
  const std::int64_t span = in + 2 * pad - dilation * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  std::int64_t out = floor_div(span, stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// y = the max of each window; the gradient of each output goes to the (first) input position that held the max:
//   dx[n, c, indices[n, c, p, q]] += dy[n, c, p, q]
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& o) {
  check_image("max_pool2d", x);
  EDAT_CHECK(
      o.kernel_h > 0 && o.kernel_w > 0 && o.stride_h > 0 && o.stride_w > 0 && o.dilation_h > 0 && o.dilation_w > 0,
      "max_pool2d: kernel, stride and dilation must be positive, got kernel ("
          << o.kernel_h << ", " << o.kernel_w << "), stride (" << o.stride_h << ", " << o.stride_w << "), dilation ("
          << o.dilation_h << ", " << o.dilation_w << ")");
  EDAT_CHECK(o.pad_h >= 0 && o.pad_w >= 0 && o.pad_h <= o.kernel_h / 2 && o.pad_w <= o.kernel_w / 2,
             "max_pool2d: padding (" << o.pad_h << ", " << o.pad_w << ") must be between 0 and half the kernel ("
                                     << o.kernel_h << ", " << o.kernel_w << ")");
  const std::int64_t P = pool_output_size(x.size(2), o.kernel_h, o.stride_h, o.pad_h, o.dilation_h, o.ceil_mode);
  const std::int64_t Q = pool_output_size(x.size(3), o.kernel_w, o.stride_w, o.pad_w, o.dilation_w, o.ceil_mode);
  EDAT_CHECK(P > 0 && Q > 0, "max_pool2d: input " << x.desc() << " is too small for kernel (" << o.kernel_h << ", "
                                                  << o.kernel_w << ") with dilation (" << o.dilation_h << ", "
                                                  << o.dilation_w << "): the output would be " << P << " x " << Q);
  Tensor y = new_like(x, {x.size(0), x.size(1), P, Q});
  // The argmax only matters to a backward: without one (evaluation, no grad) it is neither stored nor written.
  Tensor indices;
  if (is_grad_enabled() && x.requires_grad())
    indices = empty(y.shape(), {.dtype = DType::i64, .device = x.device()});
  layer_kernels(x.device()).max_pool2d_forward(x, y, indices, o);
  return record("max_pool2d", y, {x}, [indices, x_shape = x.shape(), o](const Tensor& g, const std::vector<bool>&) {
    Tensor gx = zeros(x_shape, {.dtype = g.dtype(), .device = g.device()});
    layer_kernels(g.device()).max_pool2d_backward(g, indices, gx, o);
    return Grads{gx};
  });
}

// y[i, j] = the mean of its window (rows [floor(i H / OH), ceil((i + 1) H / OH)), columns likewise); each input
// position receives dy / (window size) from every window holding it (windows overlap when OH does not divide H).
Tensor adaptive_avg_pool2d(const Tensor& x, std::int64_t out_h, std::int64_t out_w) {
  check_image("adaptive_avg_pool2d", x);
  EDAT_CHECK(out_h > 0 && out_w > 0, "adaptive_avg_pool2d: output size "
                                         << out_h << " x " << out_w << " must be positive (input " << x.desc() << ")");
  Tensor y = new_like(x, {x.size(0), x.size(1), out_h, out_w});
  layer_kernels(x.device()).adaptive_avg_pool2d_forward(x, y);
  return record("adaptive_avg_pool2d", y, {x}, [x_shape = x.shape()](const Tensor& g, const std::vector<bool>&) {
    Tensor gx = new_like(g, x_shape);
    layer_kernels(g.device()).adaptive_avg_pool2d_backward(g, gx);
    return Grads{gx};
  });
}

}  // namespace edat::nn
