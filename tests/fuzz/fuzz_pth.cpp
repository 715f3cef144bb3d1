// libFuzzer target for PyTorch .pth files: the zip format (through libzip) and the legacy format, both through the
// unpickler and _rebuild_tensor_v2's storage offsets, views and strides. Any input must either read or throw
// edat::Error (anything else, a crash, a leak or undefined behaviour is a finding), and what reads must be
// consistent: every tensor's bytes match its shape and dtype. Seeds: tests/fixtures/weights.
#include <cstdlib>

#include "tensor/error.h"
#include "tests/fuzz/fuzz_input_file.h"
#include "weights/pth.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = fuzz_input_file(data, size);
  try {
    for (const auto& [name, tensor] : edat::weights::read_pth(path)) {
      if (tensor.nbytes() != static_cast<std::size_t>(tensor.numel()) * edat::element_size(tensor.dtype()))
        std::abort();
    }
  } catch (const edat::Error&) {
  }
  return 0;
}
