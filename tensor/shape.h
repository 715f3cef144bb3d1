// Shapes and the shape arithmetic every op shares: element counts, dim wrapping, broadcasting.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace edat {

using Shape = std::vector<std::int64_t>;

std::int64_t numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[2, 3]"

// Maps a possibly negative dim (-1 = last) into [0, rank); throws naming the op when out of range.
int wrap_dim(std::int64_t dim, std::size_t rank, const char* op);

// NumPy broadcasting: shapes are aligned on the right; each pair of sizes must be equal or one of them 1.
// Throws edat::Error naming the op and both shapes when they cannot broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
bool broadcastable(const Shape& a, const Shape& b);

}  // namespace edat
