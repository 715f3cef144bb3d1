// Reductions (sum, mean, max over dims) and the broadcasting pair expand / sum_to, each other's backward.
#include <algorithm>

#include "autograd/ops/common.h"

namespace edat {
using namespace ops_detail;

namespace {

// Sorted, distinct, non-negative dims; an empty list means every dim.
std::vector<int> normalize_dims(const char* op, const std::vector<std::int64_t>& dims, std::size_t rank) {
  std::vector<int> out;
  for (std::int64_t d : dims) out.push_back(wrap_dim(d, rank, op));
  if (dims.empty())
    for (std::size_t d = 0; d < rank; ++d) out.push_back(static_cast<int>(d));
  std::sort(out.begin(), out.end());
  EDAT_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op << ": a dim is listed twice");
  return out;
}

// The (outer, reduced, inner) view of `shape` reducing dims [begin, end).
ReduceLayout layout_of(const Shape& shape, int begin, int end) {
  ReduceLayout l;
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    (d < begin ? l.outer : d < end ? l.reduced : l.inner) *= shape[d];
  }
  return l;
}

Shape keepdim_shape(Shape shape, const std::vector<int>& dims) {
  for (int d : dims) shape[d] = 1;
  return shape;
}

Shape squeezed_shape(const Shape& shape, const std::vector<int>& dims) {
  Shape out;
  for (int d = 0; d < static_cast<int>(shape.size()); ++d)
    if (!std::binary_search(dims.begin(), dims.end(), d)) out.push_back(shape[d]);
  return out;
}

// Forward of sum over dims (no autograd): each maximal run of adjacent dims is one kernel call, last run first.
Tensor sum_kernel(const Tensor& x, const std::vector<int>& dims) {
  Tensor current = x;
  std::size_t end = dims.size();
  while (end > 0) {
    std::size_t begin = end - 1;
    while (begin > 0 && dims[begin - 1] == dims[begin] - 1) --begin;
    const int first = dims[begin], last = dims[end - 1] + 1;
    Shape out_shape = current.shape();
    for (int d = first; d < last; ++d) out_shape[d] = 1;
    Tensor out = new_like(x, out_shape);
    backend(x.device()).sum_dim(current, out, layout_of(current.shape(), first, last));
    current = out;
    end = begin;
  }
  return current.is_same(x) ? x.clone() : current;
}

}  // namespace

// d sum(x)/dx_i = 1: the gradient is the output gradient broadcast back over the reduced dims.
Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  check_floating("sum", x);
  const std::vector<int> d = normalize_dims("sum", dims, x.shape().size());
  Tensor out = sum_kernel(x, d);
  if (!keepdim) out = out.untracked_view(squeezed_shape(x.shape(), d));
  return record("sum", out, {x},
                [shape = x.shape(), kept = keepdim_shape(x.shape(), d)](const Tensor& g, const std::vector<bool>&) {
                  return Grads{expand(reshape(g, kept), shape)};
                });
}

Tensor sum(const Tensor& x) { return sum(x, {}, false); }

// mean = sum / count, so d mean/dx_i = 1/count
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  check_floating("mean", x);
  std::int64_t count = 1;
  for (int d : normalize_dims("mean", dims, x.shape().size())) count *= x.shape()[d];
  return mul(sum(x, dims, keepdim), 1.0 / static_cast<double>(count));
}

Tensor mean(const Tensor& x) { return mean(x, {}, false); }

// d max(x)/dx_i = 1 for the (first) maximal element, 0 for the others.
MaxResult max(const Tensor& x, std::int64_t dim, bool keepdim) {
  check_floating("max", x);
  const int d = wrap_dim(dim, x.shape().size(), "max");
  EDAT_CHECK(x.shape()[d] > 0, "max: dim " << dim << " of " << x.desc() << " is empty");
  const ReduceLayout layout = layout_of(x.shape(), d, d + 1);
  const Shape kept = keepdim_shape(x.shape(), {d});
  Tensor values = new_like(x, kept);
  Tensor indices = empty(kept, {.dtype = DType::i64, .device = x.device()});
  backend(x.device()).max_dim(x, values, indices, layout);
  if (!keepdim) {
    values = values.untracked_view(squeezed_shape(x.shape(), {d}));
    indices = indices.untracked_view(values.shape());
  }
  values = record("max", values, {x},
                  [indices = indices.untracked_view(kept), shape = x.shape(), kept, layout](const Tensor& g,
                                                                                            const std::vector<bool>&) {
                    Tensor gx = zeros(shape, {.dtype = g.dtype(), .device = g.device()});
                    backend(g.device()).max_dim_backward(g.untracked_view(kept), indices, gx, layout);
                    return Grads{gx};
                  });
  return {values, indices};
}

// The backward of broadcasting: sum over the leading dims that broadcasting added and the dims where `shape` is 1.
Tensor sum_to(const Tensor& x, const Shape& shape) {
  check_floating("sum_to", x);
  if (x.shape() == shape) return x;
  EDAT_CHECK(shape.size() <= x.shape().size() && broadcast_shapes(shape, x.shape(), "sum_to") == x.shape(),
             "sum_to: " << x.desc() << " cannot be summed to shape " << shape_str(shape));
  const std::size_t lead = x.shape().size() - shape.size();
  std::vector<std::int64_t> dims;
  for (std::size_t d = 0; d < x.shape().size(); ++d) {
    if (d < lead || (shape[d - lead] == 1 && x.shape()[d] != 1)) dims.push_back(static_cast<std::int64_t>(d));
  }
  if (dims.empty()) return reshape(x, shape);
  return reshape(sum(x, dims, true), shape);
}

// Broadcast copy; d expand(x)/dx sums the gradient back: sum_to.
Tensor expand(const Tensor& x, const Shape& shape) {
  check_floating("expand", x);
  EDAT_CHECK(broadcastable(x.shape(), shape) && x.shape().size() <= shape.size() &&
                 broadcast_shapes(x.shape(), shape, "expand") == shape,
             "expand: " << x.desc() << " cannot broadcast to shape " << shape_str(shape));
  if (x.shape() == shape) return x;
  Tensor out = new_like(x, shape);
  backend(x.device()).expand(x, out);
  return record("expand", out, {x}, [sx = x.shape()](const Tensor& g, const std::vector<bool>&) {
    return Grads{sum_to(g, sx)};
  });
}

}  // namespace edat
