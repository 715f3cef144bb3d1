// Same result as reference/batch_norm_reference.cpp (which states and derives the formulas), made fast by running
// one channel per loop iteration (parallel over channels) over its N runs of H W contiguous elements, with the
// backward in its collapsed one-pass form; each pass accumulates in f64.
#include <cmath>

#include "layers/cpu/cpu_layer_kernels.h"
#include "tensor/cpu/cpu_backend.h"

namespace edat::nn::cpu_impl {

using edat::cpu_impl::dispatch_floating;
using edat::cpu_impl::kParallelGrain;

namespace {

// x viewed as (N, C, HW): channel c of sample n starts at (n C + c) HW.
struct ChannelLayout {
  std::int64_t N, C, HW;
  explicit ChannelLayout(const Tensor& x) : N(x.size(0)), C(x.size(1)), HW(x.numel() / (x.size(0) * x.size(1))) {}
  std::int64_t at(std::int64_t n, std::int64_t c) const { return (n * C + c) * HW; }
  std::int64_t count() const { return N * HW; }  // m: values per channel
};

}  // namespace

// mean = sum x / m,  var = sum (x - mean)^2 / m (biased, for normalising),  invstd = 1 / sqrt(var + eps),
// y = (x - mean) invstd weight + bias; the running variance takes the unbiased var m / (m - 1).
void CpuLayerKernels::batch_norm_forward_train(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y,
                                               Tensor& running_mean, Tensor& running_var, Tensor& save_mean,
                                               Tensor& save_invstd, double momentum, double eps) {
  const ChannelLayout l(x);
  dispatch_floating(x.dtype(), "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    const T *in = x.data<T>(), *w = weight.data<T>(), *b = bias.data<T>();
    T *out = y.data<T>(), *rm = running_mean.data<T>(), *rv = running_var.data<T>();
    T *sm = save_mean.data<T>(), *si = save_invstd.data<T>();
    const auto m = static_cast<double>(l.count());
#pragma omp parallel for schedule(static) if (x.numel() > kParallelGrain)
    for (std::int64_t c = 0; c < l.C; ++c) {
      double sum = 0;
      for (std::int64_t n = 0; n < l.N; ++n) {
        const T* v = in + l.at(n, c);
#pragma omp simd reduction(+ : sum)
        for (std::int64_t i = 0; i < l.HW; ++i) sum += v[i];
      }
      const double mean = sum / m;
      double squares = 0;
      for (std::int64_t n = 0; n < l.N; ++n) {
        const T* v = in + l.at(n, c);
#pragma omp simd reduction(+ : squares)
        for (std::int64_t i = 0; i < l.HW; ++i) {
          const double d = v[i] - mean;
          squares += d * d;
        }
      }
      const double var = squares / m;
      const double invstd = 1.0 / std::sqrt(var + eps);
      sm[c] = static_cast<T>(mean);
      si[c] = static_cast<T>(invstd);
      rm[c] = static_cast<T>((1 - momentum) * rm[c] + momentum * mean);
      rv[c] = static_cast<T>((1 - momentum) * rv[c] + momentum * var * m / (m - 1));
      // y = x scale + shift with scale = weight invstd, shift = bias - mean scale.
      const T scale = static_cast<T>(w[c] * invstd);
      const T shift = static_cast<T>(b[c] - mean * w[c] * invstd);
      for (std::int64_t n = 0; n < l.N; ++n) {
        const T* v = in + l.at(n, c);
        T* o = out + l.at(n, c);
        for (std::int64_t i = 0; i < l.HW; ++i) o[i] = v[i] * scale + shift;
      }
    }
  });
}

// The collapsed backward of reference/batch_norm_reference.cpp: dx = weight invstd / m (m dy - dbias - xhat dweight).
void CpuLayerKernels::batch_norm_backward_train(const Tensor& dy, const Tensor& x, const Tensor& weight,
                                                const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                                                Tensor& dweight, Tensor& dbias, double /*eps: in invstd*/) {
  const ChannelLayout l(x);
  dispatch_floating(x.dtype(), "batch_norm backward", [&](auto tag) {
    using T = decltype(tag);
    const T *g = dy.data<T>(), *in = x.data<T>(), *w = weight.data<T>();
    const T *sm = save_mean.data<T>(), *si = save_invstd.data<T>();
    T *gx = dx.data<T>(), *gw = dweight.data<T>(), *gb = dbias.data<T>();
    const auto m = static_cast<double>(l.count());
#pragma omp parallel for schedule(static) if (x.numel() > kParallelGrain)
    for (std::int64_t c = 0; c < l.C; ++c) {
      const double mean = sm[c], invstd = si[c];
      double sum_dy = 0, sum_dy_xmu = 0;  // sum dy and sum dy (x - mean)
      for (std::int64_t n = 0; n < l.N; ++n) {
        const T* gv = g + l.at(n, c);
        const T* v = in + l.at(n, c);
#pragma omp simd reduction(+ : sum_dy, sum_dy_xmu)
        for (std::int64_t i = 0; i < l.HW; ++i) {
          sum_dy += gv[i];
          sum_dy_xmu += gv[i] * (v[i] - mean);
        }
      }
      gb[c] = static_cast<T>(sum_dy);
      gw[c] = static_cast<T>(sum_dy_xmu * invstd);
      // dx = a dy + b (x - mean) + k with a = weight invstd, b = -a invstd^2 sum_dy_xmu / m, k = -a sum_dy / m.
      const double a = w[c] * invstd;
      const T ta = static_cast<T>(a), tb = static_cast<T>(-a * invstd * invstd * sum_dy_xmu / m);
      const T tk = static_cast<T>(-a * sum_dy / m), tmean = static_cast<T>(mean);
      for (std::int64_t n = 0; n < l.N; ++n) {
        const T* gv = g + l.at(n, c);
        const T* v = in + l.at(n, c);
        T* o = gx + l.at(n, c);
        for (std::int64_t i = 0; i < l.HW; ++i) o[i] = ta * gv[i] + tb * (v[i] - tmean) + tk;
      }
    }
  });
}

}  // namespace edat::nn::cpu_impl
