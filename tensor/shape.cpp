#include "tensor/shape.h"

#include <algorithm>

#include "tensor/error.h"

namespace edat {

std::int64_t numel(const Shape& shape) {
  std::int64_t n = 1;
  for (std::int64_t size : shape) n *= size;
  return n;
}

std::string shape_str(const Shape& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

int wrap_dim(std::int64_t dim, std::size_t rank, const char* op) {
  const auto r = static_cast<std::int64_t>(rank);
  EDAT_CHECK(dim >= -r && dim < r, op << ": dim " << dim << " is out of range for a tensor of rank " << rank);
  return static_cast<int>(dim < 0 ? dim + r : dim);
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    // Align on the right: missing leading dims count as 1.
    std::int64_t sa = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    std::int64_t sb = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    EDAT_CHECK(sa == sb || sa == 1 || sb == 1,
               op << ": shapes " << shape_str(a) << " and " << shape_str(b) << " cannot broadcast (dim " << i
                  << ": " << sa << " vs " << sb << ")");
    out[i] = sa == 1 ? sb : sa;
  }
  return out;
}

bool broadcastable(const Shape& a, const Shape& b) {
  for (std::size_t i = 1; i <= std::min(a.size(), b.size()); ++i) {
    const std::int64_t sa = a[a.size() - i], sb = b[b.size() - i];
    if (sa != sb && sa != 1 && sb != 1) return false;
  }
  return true;
}

}  // namespace edat
