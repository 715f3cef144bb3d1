// safetensors files: an 8-byte little-endian header length, a JSON header
//   {"__metadata__": {"k": "v"}, "conv1.weight": {"dtype": "F32", "shape": [64, 3, 7, 7], "data_offsets": [0, 37632]}}
// padded with spaces to a multiple of 8 bytes, then the raw little-endian tensor data (offsets relative to its start).
// The files this writes are byte for byte those of Python's `safetensors` package (same tensor order, padding and
// compact JSON; metadata keys sorted, where Python's order is random), so
// safetensors.torch.load_file reads them; reading validates the header as that package does, and more.
#pragma once

#include <map>
#include <string>

#include "layers/module.h"

namespace edat::weights {

using nn::NamedTensors;

struct SafetensorsContents {
  NamedTensors tensors;                         // in the order of their data in the file
  std::map<std::string, std::string> metadata;  // the header's "__metadata__" (empty when absent)
};

// Reads dtypes F32, F64, BF16, I64, and F16 (widened to f32: edat has no f16) into CPU tensors.
// Every inconsistency is an edat::Error naming the file and the key.
NamedTensors read_safetensors(const std::string& path);
SafetensorsContents read_safetensors_with_metadata(const std::string& path);

// Writes f32, f64, bf16 and i64 tensors (CUDA tensors are copied to the CPU first). The write is atomic: a temporary
// file in the same folder, flushed to disk, then renamed over `path`.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace edat::weights
