// Deterministic mode, as PyTorch's torch.use_deterministic_algorithms: the same command gives the same bits on every
// run. On the CPU edat is always deterministic (fixed summation orders, seeded randomness). On CUDA, two things can
// differ from run to run and are changed in this mode:
//   - cuDNN convolutions: only algorithms whose perf entry says CUDNN_DETERMINISTIC are used (several of the fastest
//     backward algorithms add with float atomics in an order that changes); when none of cuDNN's picks is, the
//     deterministic BWD_DATA_ALGO_1 / BWD_FILTER_ALGO_1 are used (layers/cuda/cudnn_wrapper.cpp);
//   - max-pool backward: each input element gathers its gradient from the windows that chose it, in a fixed order,
//     instead of the windows scattering into it with atomicAdd (layers/cuda/pooling_cuda.cu).
// It is on when EDAT_DETERMINISTIC=1 is set in the environment, or after set_deterministic(true)
// (train_resnet --deterministic). Set it before the first CUDA work: cuDNN's algorithm choices are cached per mode.
#pragma once

namespace edat {

bool deterministic();
void set_deterministic(bool on);

}  // namespace edat
