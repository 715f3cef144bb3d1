#include "layers/kernels.h"

#include <atomic>
#include <cstdlib>
#include <string>

#include "layers/cpu/cpu_layer_kernels.h"
#include "layers/reference/reference_layer_kernels.h"
#include "tensor/backend.h"
#if EDAT_HAS_CUDA
#include "layers/cuda/cuda_layer_kernels.h"
#endif

namespace edat::nn {

namespace {

// EDAT_KERNELS picks the CPU layer kernels at start-up: unset or "fast" the tuned ones (layers/cpu/), "reference"
// the textbook loops (layers/reference/: slow, for learning and for replaying a run on the definitions).
std::atomic<LayerKernels*>& chosen_cpu_kernels() {
  static std::atomic<LayerKernels*> chosen = [] {
    const char* value = std::getenv("EDAT_KERNELS");
    const std::string name = value ? value : "";
    if (name.empty() || name == "fast") return &cpu_impl::cpu_layer_kernels();
    if (name == "reference") return &reference::reference_layer_kernels();
    throw Error("EDAT_KERNELS must be \"fast\" or \"reference\", got \"" + name + "\"");
  }();
  return chosen;
}

}  // namespace

LayerKernels& layer_kernels(Device device) {
  if (device.is_cpu()) return *chosen_cpu_kernels().load();
  backend(device);  // throws the clear error when CUDA is not built or the device is absent
#if EDAT_HAS_CUDA
  return cuda_impl::cuda_layer_kernels();
#else
  throw Error("unreachable: no CUDA layer kernels in this build");
#endif
}

LayerKernels& use_cpu_layer_kernels(LayerKernels& kernels) { return *chosen_cpu_kernels().exchange(&kernels); }

}  // namespace edat::nn
