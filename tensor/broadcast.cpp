#include "tensor/broadcast.h"

#include "tensor/error.h"

namespace edat {

BroadcastIndexer make_broadcast_indexer(const Shape& out, const Shape& a, const Shape* b) {
  BroadcastIndexer ix;
  ix.inputs = b ? 2 : 1;
  ix.numel = numel(out);
  const Shape* in[2] = {&a, b};
  const int rank = static_cast<int>(out.size());

  // Per output dim: size, and each input's element stride (0 where the input has size 1 or lacks the dim).
  std::int64_t sizes[64], strides[2][64];
  EDAT_CHECK(rank <= 64, "broadcast: rank " << rank << " is too large");
  for (int k = 0; k < ix.inputs; ++k) {
    const Shape& s = *in[k];
    EDAT_CHECK(s.size() <= out.size(), "broadcast: input " << shape_str(s) << " has more dims than output "
                                                           << shape_str(out));
    std::int64_t stride = 1;
    for (int d = rank - 1; d >= 0; --d) {
      int sd = d - (rank - static_cast<int>(s.size()));
      std::int64_t size = sd >= 0 ? s[sd] : 1;
      EDAT_CHECK(size == out[d] || size == 1,
                 "broadcast: input " << shape_str(s) << " does not broadcast to " << shape_str(out));
      strides[k][d] = size == 1 ? 0 : stride;
      stride *= size;
    }
  }
  for (int d = 0; d < rank; ++d) sizes[d] = out[d];

  // Drop size-1 dims, then merge dim d into the previous kept dim p when every input steps through them as one:
  // stride[p] == stride[d] * size[d] (this holds for two contiguous runs and for two broadcast runs alike).
  int kept = 0;
  std::int64_t msizes[64], mstrides[2][64];
  for (int d = 0; d < rank; ++d) {
    if (sizes[d] == 1) continue;
    bool mergeable = kept > 0;
    for (int k = 0; k < ix.inputs && mergeable; ++k)
      mergeable = mstrides[k][kept - 1] == strides[k][d] * sizes[d];
    if (mergeable) {
      msizes[kept - 1] *= sizes[d];
      for (int k = 0; k < ix.inputs; ++k) mstrides[k][kept - 1] = strides[k][d];
    } else {
      msizes[kept] = sizes[d];
      for (int k = 0; k < ix.inputs; ++k) mstrides[k][kept] = strides[k][d];
      ++kept;
    }
  }
  EDAT_CHECK(kept <= BroadcastIndexer::kMaxDims,
             "broadcast: " << shape_str(out) << " needs " << kept << " dims after merging; at most "
                           << BroadcastIndexer::kMaxDims << " are supported");
  ix.rank = kept;
  for (int d = 0; d < kept; ++d) {
    ix.sizes[d] = msizes[d];
    for (int k = 0; k < ix.inputs; ++k) ix.strides[k][d] = mstrides[k][d];
  }
  for (int k = 0; k < ix.inputs; ++k) {
    ix.contiguous[k] = numel(*in[k]) == ix.numel;  // same element count => same layout as the output
  }
  return ix;
}

}  // namespace edat
