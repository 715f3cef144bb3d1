// 2-D convolution: y = conv(x, weight) + bias, forward and backward side by side; the kernels are in cpu/ and cuda/.
#include "autograd/ops/common.h"
#include "layers/functional.h"
#include "layers/kernels.h"

namespace edat::nn {
using namespace ops_detail;

std::int64_t conv_output_size(std::int64_t in, std::int64_t k, std::int64_t stride, std::int64_t pad,
                              std::int64_t dilation) {
  const std::int64_t span = in + 2 * pad - dilation * (k - 1) - 1;
  return (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
}

// With y[n, k, p, q] = bias[k] + sum over (c, r, s) of weight[k, c, r, s] x[n, c, p sh - ph + r dh, q sw - pw + s dw]:
//   dx      = the transposed convolution of dy with weight  (kernel: conv2d_backward_data)
//   dweight = the correlation of x with dy                  (kernel: conv2d_backward_filter)
//   dbias   = sum of dy over (N, P, Q)
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& o) {
  check_pair("conv2d", x, weight);
  EDAT_CHECK(x.dim() == 4, "conv2d: expects a 4-D input (N, C, H, W), got " << x.desc());
  EDAT_CHECK(weight.dim() == 4, "conv2d: expects a 4-D weight (C_out, C_in / groups, KH, KW), got " << weight.desc());
  EDAT_CHECK(weight.numel() > 0, "conv2d: weight " << weight.desc() << " is empty");
  EDAT_CHECK(o.stride_h > 0 && o.stride_w > 0 && o.dilation_h > 0 && o.dilation_w > 0 && o.pad_h >= 0 && o.pad_w >= 0 &&
                 o.groups > 0,
             "conv2d: stride, dilation and groups must be positive and padding non-negative, got stride ("
                 << o.stride_h << ", " << o.stride_w << "), padding (" << o.pad_h << ", " << o.pad_w << "), dilation ("
                 << o.dilation_h << ", " << o.dilation_w << "), groups " << o.groups);
  const std::int64_t C = x.size(1), K = weight.size(0);
  // "conv2d: input f32[2, 4, 8, 8] on cpu has 4 channels, weight f32[8, 3, 3, 3] expects 3 (groups 1)"
  EDAT_CHECK(C == weight.size(1) * o.groups, "conv2d: input " << x.desc() << " has " << C << " channels, weight "
                                                              << dtype_name(weight.dtype()) << shape_str(weight.shape())
                                                              << " expects " << weight.size(1) * o.groups << " (groups "
                                                              << o.groups << ")");
  EDAT_CHECK(K % o.groups == 0, "conv2d: groups " << o.groups << " does not divide the " << K
                                                  << " output channels of weight " << weight.desc());
  if (bias.defined()) {
    check_pair("conv2d", x, bias);
    EDAT_CHECK(bias.dim() == 1 && bias.size(0) == K, "conv2d: bias " << bias.desc() << " must hold one value per "
                                                                     << "output channel of weight " << weight.desc());
  }
  const std::int64_t P = conv_output_size(x.size(2), weight.size(2), o.stride_h, o.pad_h, o.dilation_h);
  const std::int64_t Q = conv_output_size(x.size(3), weight.size(3), o.stride_w, o.pad_w, o.dilation_w);
  EDAT_CHECK(P > 0 && Q > 0, "conv2d: input " << x.desc() << " is too small for weight " << weight.desc()
                                              << " with padding (" << o.pad_h << ", " << o.pad_w << "), dilation ("
                                              << o.dilation_h << ", " << o.dilation_w << ") and stride (" << o.stride_h
                                              << ", " << o.stride_w << "): the output would be " << P << " x " << Q);

  Tensor y = new_like(x, {x.size(0), K, P, Q});
  layer_kernels(x.device()).conv2d_forward(x, weight, bias, y, o);
  // x is kept only when the filter gradient needs it, the weight only when the data gradient does.
  Tensor saved_x = weight.requires_grad() ? x.detach() : Tensor();
  Tensor saved_weight = x.requires_grad() ? weight.detach() : Tensor();
  return record("conv2d", y, {x, weight, bias},
                [x = saved_x, w = saved_weight, x_shape = x.shape(), w_shape = weight.shape(), o](
                    const Tensor& g, const std::vector<bool>& needs) {
                  LayerKernels& kernels = layer_kernels(g.device());
                  Tensor gx, gw, gb;
                  if (needs[0]) {
                    gx = new_like(g, x_shape);
                    kernels.conv2d_backward_data(g, w, gx, o);
                  }
                  if (needs[1]) {
                    gw = new_like(g, w_shape);
                    kernels.conv2d_backward_filter(g, x, gw, o);
                  }
                  if (needs[2]) gb = sum(g, {0, 2, 3});
                  return Grads{gx, gw, gb};
                });
}

}  // namespace edat::nn
