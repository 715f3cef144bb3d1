// PyTorch .pth files holding a state_dict (torch.save(model.state_dict(), path)), read without Python or LibTorch:
//   - the zip format of torch >= 1.6: <archive>/data.pkl (the pickled dict) + <archive>/data/<key> (raw storages);
//   - the legacy format (_use_new_zipfile_serialization=False): five pickles in a row (magic number, protocol
//     version, sys_info, the dict, the list of storage keys), then each storage as an 8-byte element count and its
//     raw bytes.
// Tensors are rebuilt as torch._utils._rebuild_tensor_v2 does (storage offset, size, stride: views sharing a storage
// and non-contiguous tensors come out right) and copied into contiguous CPU tensors. Float, Double, BFloat16 and
// Long storages keep their dtype; Half storages are widened to f32. Anything else is an edat::Error naming the file
// and key.
#pragma once

#include <string>

#include "layers/module.h"

namespace edat::weights {

nn::NamedTensors read_pth(const std::string& path);

}  // namespace edat::weights
