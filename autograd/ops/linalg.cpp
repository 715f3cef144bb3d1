// Matrix product, 2-D transpose, and the shape views reshape / flatten.
#include "autograd/ops/common.h"

namespace edat {
using namespace ops_detail;

// C = op(A) op(B). With dC the gradient of C:
//   A not transposed: dA = dC op(B)^T          A transposed: dA = op(B) dC^T
//   B not transposed: dB = op(A)^T dC          B transposed: dB = dC^T op(A)
Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  check_pair("matmul", a, b);
  EDAT_CHECK(a.dim() == 2 && b.dim() == 2, "matmul: expects 2-D operands, got " << a.desc() << " and " << b.desc());
  const std::int64_t m = a.size(ta ? 1 : 0), k = a.size(ta ? 0 : 1);
  const std::int64_t k2 = b.size(tb ? 1 : 0), n = b.size(tb ? 0 : 1);
  EDAT_CHECK(k == k2, "matmul: inner dimensions differ: " << a.desc() << (ta ? " (transposed)" : "") << " @ "
                                                          << b.desc() << (tb ? " (transposed)" : ""));
  Tensor out = new_like(a, {m, n});
  backend(a.device()).matmul(a, b, out, ta, tb);
  return record("matmul", out, {a, b},
                [a = a.detach(), b = b.detach(), ta, tb](const Tensor& g, const std::vector<bool>& need) {
                  Tensor ga, gb;
                  if (need[0]) ga = ta ? matmul(b, g, tb, true) : matmul(g, b, false, !tb);
                  if (need[1]) gb = tb ? matmul(g, a, true, ta) : matmul(a, g, !ta, false);
                  return Grads{ga, gb};
                });
}

// The gradient of a transpose is the transposed gradient.
Tensor transpose(const Tensor& x) {
  check_floating("transpose", x);
  EDAT_CHECK(x.dim() == 2, "transpose: expects a 2-D tensor, got " << x.desc());
  Tensor out = new_like(x, {x.size(1), x.size(0)});
  backend(x.device()).transpose2d(x, out);
  return record("transpose", out, {x}, [](const Tensor& g, const std::vector<bool>&) { return Grads{transpose(g)}; });
}

// A view with another shape; the gradient is viewed back to the input's shape.
Tensor reshape(const Tensor& x, const Shape& shape) {
  check_defined("reshape", x);
  Tensor out = x.untracked_view(shape);
  return record("reshape", out, {x},
                [sx = x.shape()](const Tensor& g, const std::vector<bool>&) { return Grads{g.untracked_view(sx)}; });
}

// Merges dims start_dim..end_dim into one.
Tensor flatten(const Tensor& x, std::int64_t start_dim, std::int64_t end_dim) {
  check_defined("flatten", x);
  if (x.dim() == 0) return reshape(x, {1});
  const int first = wrap_dim(start_dim, x.shape().size(), "flatten");
  const int last = wrap_dim(end_dim, x.shape().size(), "flatten");
  EDAT_CHECK(first <= last, "flatten: start_dim " << start_dim << " comes after end_dim " << end_dim);
  Shape shape(x.shape().begin(), x.shape().begin() + first);
  std::int64_t merged = 1;
  for (int d = first; d <= last; ++d) merged *= x.shape()[d];
  shape.push_back(merged);
  shape.insert(shape.end(), x.shape().begin() + last + 1, x.shape().end());
  return reshape(x, shape);
}

}  // namespace edat
