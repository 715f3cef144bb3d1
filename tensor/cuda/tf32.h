// Whether fp32 work may use TF32 tensor cores (10-bit mantissa inputs, fp32 accumulation; about 1e-3 relative
// error), per library, read from the environment:
//   EDAT_ALLOW_TF32=1          allows it for both cuBLAS matmuls and cuDNN convolutions;
//   EDAT_ALLOW_TF32_MATMUL=0|1 overrides that for cuBLAS (tensor/cuda/cuda_matmul.cpp);
//   EDAT_ALLOW_TF32_CUDNN=0|1  overrides that for cuDNN (layers/cuda/cudnn_wrapper.cpp).
// Unset, edat is exact fp32 everywhere, so CPU-vs-CUDA tests hold at 1e-5. PyTorch's defaults differ: matmul TF32
// off (torch.backends.cuda.matmul.allow_tf32 = False), cuDNN TF32 on (torch.backends.cudnn.allow_tf32 = True); the
// specific variables exist so that a benchmark can match them exactly (bench/bench_train_gpu.cpp does).
// Each library reads its answer once, at its first handle or descriptor: set the variables before any CUDA work.
#pragma once

#include <cstdlib>
#include <cstring>

namespace edat::cuda_impl {

// `specific` ("EDAT_ALLOW_TF32_MATMUL" or "EDAT_ALLOW_TF32_CUDNN") when set to 0 or 1, else EDAT_ALLOW_TF32 == 1.
inline bool tf32_allowed_by_env(const char* specific) {
  if (const char* value = std::getenv(specific); value != nullptr) {
    if (std::strcmp(value, "1") == 0) return true;
    if (std::strcmp(value, "0") == 0) return false;
  }
  const char* general = std::getenv("EDAT_ALLOW_TF32");
  return general != nullptr && std::strcmp(general, "1") == 0;
}

}  // namespace edat::cuda_impl
