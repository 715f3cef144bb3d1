// CPU elementwise kernels: unary maps, broadcasting binary ops and broadcast copies.
#include <algorithm>
#include <cmath>

#include "tensor/broadcast.h"
#include "tensor/cpu/cpu_backend.h"

namespace edat::cpu_impl {
namespace {

// y[i] = f(x[i]); y may alias x.
template <class T, class F> void map(const T* x, T* y, std::int64_t n, F f) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

// out[i] = f(a[.], b[.]) over the broadcast indexer: the innermost merged dim runs as a strided inner loop.
template <class T, class F> void zip(const T* a, const T* b, T* out, const BroadcastIndexer& ix, F f) {
  const std::int64_t n = ix.numel;
  if (ix.contiguous[0] && ix.contiguous[1]) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
    return;
  }
  const std::int64_t inner = ix.rank > 0 ? ix.sizes[ix.rank - 1] : 1;
  const std::int64_t sa = ix.rank > 0 ? ix.strides[0][ix.rank - 1] : 0;
  const std::int64_t sb = ix.rank > 0 ? ix.strides[1][ix.rank - 1] : 0;
  const std::int64_t rows = n / inner;
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (std::int64_t row = 0; row < rows; ++row) {
    const T* pa = a + ix.offset(0, row * inner);
    const T* pb = b + ix.offset(1, row * inner);
    T* po = out + row * inner;
    for (std::int64_t j = 0; j < inner; ++j) po[j] = f(pa[j * sa], pb[j * sb]);
  }
}

template <class T> T sign_of(T v) { return static_cast<T>((v > T(0)) - (v < T(0))); }

}  // namespace

void CpuBackend::unary(UnaryOp op, const Tensor& x, Tensor& out, double scalar) {
  dispatch_floating(x.dtype(), "unary op", [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* y = out.data<T>();
    const std::int64_t n = x.numel();
    const T s = static_cast<T>(scalar);
    switch (op) {
      case UnaryOp::neg: map(in, y, n, [](T v) { return -v; }); return;
      case UnaryOp::abs: map(in, y, n, [](T v) { return std::abs(v); }); return;
      case UnaryOp::sign: map(in, y, n, [](T v) { return sign_of(v); }); return;
      case UnaryOp::exp: map(in, y, n, [](T v) { return std::exp(v); }); return;
      case UnaryOp::log: map(in, y, n, [](T v) { return std::log(v); }); return;
      case UnaryOp::sqrt: map(in, y, n, [](T v) { return std::sqrt(v); }); return;
      // NaN compares false both ways, so it falls through to v and propagates, as in PyTorch.
      case UnaryOp::relu: map(in, y, n, [](T v) { return v < T(0) ? T(0) : v; }); return;
      case UnaryOp::relu6: map(in, y, n, [](T v) { return v < T(0) ? T(0) : (v > T(6) ? T(6) : v); }); return;
      case UnaryOp::add_scalar: map(in, y, n, [s](T v) { return v + s; }); return;
      case UnaryOp::mul_scalar: map(in, y, n, [s](T v) { return v * s; }); return;
      case UnaryOp::pow_scalar: map(in, y, n, [s](T v) { return std::pow(v, s); }); return;
      case UnaryOp::sigmoid: map(in, y, n, [](T v) { return T(1) / (T(1) + std::exp(-v)); }); return;
      case UnaryOp::log_sigmoid:
        map(in, y, n, [](T v) { return std::min(v, T(0)) - std::log1p(std::exp(-std::abs(v))); });
        return;
    }
  });
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const BroadcastIndexer ix = make_broadcast_indexer(out.shape(), a.shape(), &b.shape());
  dispatch_floating(a.dtype(), "binary op", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    switch (op) {
      case BinaryOp::add: zip(pa, pb, po, ix, [](T u, T v) { return u + v; }); return;
      case BinaryOp::sub: zip(pa, pb, po, ix, [](T u, T v) { return u - v; }); return;
      case BinaryOp::mul: zip(pa, pb, po, ix, [](T u, T v) { return u * v; }); return;
      case BinaryOp::div: zip(pa, pb, po, ix, [](T u, T v) { return u / v; }); return;
      case BinaryOp::relu_backward: zip(pa, pb, po, ix, [](T g, T v) { return v > T(0) ? g : T(0); }); return;
      case BinaryOp::relu6_backward:
        zip(pa, pb, po, ix, [](T g, T v) { return v > T(0) && v < T(6) ? g : T(0); });
        return;
      case BinaryOp::greater: zip(pa, pb, po, ix, [](T u, T v) { return u > v ? T(1) : T(0); }); return;
    }
  });
}

void CpuBackend::expand(const Tensor& x, Tensor& out) {
  // A binary op whose second operand is x and whose first is ignored: out = x broadcast.
  const BroadcastIndexer ix = make_broadcast_indexer(out.shape(), x.shape(), &x.shape());
  dispatch_floating(x.dtype(), "expand", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    zip(px, px, out.data<T>(), ix, [](T, T v) { return v; });
  });
}

}  // namespace edat::cpu_impl
