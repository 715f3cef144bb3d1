// The index arithmetic of broadcasting elementwise ops, shared by the CPU and CUDA kernels.
//
// An output of shape S is computed from inputs whose shapes broadcast to S. Each input gets an element stride per
// output dim (0 where it is broadcast), and adjacent dims that are contiguous for every input are merged, so that
// (N,C,H,W) + (1,C,1,1) becomes a 3-dim loop over (N, C, H*W) with input strides (0, 1, 0).
#pragma once

#include <cstdint>

#include "tensor/host_device.h"
#include "tensor/shape.h"

namespace edat {

struct BroadcastIndexer {
  static constexpr int kMaxDims = 8;
  static constexpr int kMaxInputs = 2;

  int rank = 0;  // after merging; 0 means a single element
  int inputs = 0;
  std::int64_t numel = 1;
  std::int64_t sizes[kMaxDims] = {};
  std::int64_t strides[kMaxInputs][kMaxDims] = {};
  bool contiguous[kMaxInputs] = {};  // input k is laid out exactly like the output (offset(k, i) == i)

  // Element offset into input k of the output element with linear index i.
  EDAT_HOST_DEVICE std::int64_t offset(int k, std::int64_t i) const {
    std::int64_t result = 0;
    for (int d = rank - 1; d >= 0; --d) {
      std::int64_t coordinate = i % sizes[d];
      i /= sizes[d];
      result += coordinate * strides[k][d];
    }
    return result;
  }
};

// Indexer for an output of shape `out` and inputs of shapes `a` and (optionally) `b`, each broadcastable to `out`.
BroadcastIndexer make_broadcast_indexer(const Shape& out, const Shape& a, const Shape* b = nullptr);

}  // namespace edat
