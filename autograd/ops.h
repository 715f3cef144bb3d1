// The differentiable operations of edat. Each records an autograd node when grad mode is on and an input
// requires grad; forward and backward of each live side by side in autograd/ops/*.cpp with the derivative
// written out. All run on the CPU and on CUDA; operands must share dtype and device (edat::Error otherwise).
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace edat {

// ---- elementwise, with NumPy broadcasting (e.g. (N,C,H,W) with (1,C,1,1) or (W)) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);  // gradient zero
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor relu(const Tensor& x);
Tensor relu6(const Tensor& x);  // min(max(x, 0), 6), MobileNetV2's activation
Tensor sigmoid(const Tensor& x);      // 1 / (1 + e^-x)
Tensor log_sigmoid(const Tensor& x);  // ln sigmoid(x), computed without overflow for large |x|
// Comparison masks: 1 where a > b (broadcasting), else 0, in a's dtype. Not differentiable: never recorded.
Tensor greater(const Tensor& a, const Tensor& b);
Tensor greater(const Tensor& a, double s);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& x) { return neg(x); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
inline Tensor operator+(double s, const Tensor& a) { return add(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return add(a, -s); }
inline Tensor operator-(double s, const Tensor& a) { return add(neg(a), s); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return mul(a, 1.0 / s); }
inline Tensor operator/(double s, const Tensor& a) { return mul(pow(a, -1.0), s); }

// ---- reductions ----
Tensor sum(const Tensor& x);  // all elements -> 0-dim
Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim = false);
struct MaxResult {
  Tensor values;   // differentiable: the gradient flows to the first maximal element
  Tensor indices;  // i64 positions along dim
};
MaxResult max(const Tensor& x, std::int64_t dim, bool keepdim = false);
// Sums `x` down to `shape` over the dims that broadcasting expanded (the backward of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);
Tensor expand(const Tensor& x, const Shape& shape);  // broadcast copy (the backward of sum)

// ---- linear algebra and shape ----
// op(a) @ op(b) for 2-D tensors, op = transpose where requested: Eigen on the CPU, cuBLAS on CUDA.
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);
Tensor transpose(const Tensor& x);  // 2-D, materialised
Tensor reshape(const Tensor& x, const Shape& shape);  // a view; one dim may be -1
Tensor flatten(const Tensor& x, std::int64_t start_dim = 0, std::int64_t end_dim = -1);

}  // namespace edat
