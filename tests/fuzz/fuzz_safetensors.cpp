// libFuzzer target for safetensors files: the header's JSON (every field validated, nesting included) and the data
// ranges. Any input must either read or throw edat::Error; what reads must tile the data it was given: the tensors'
// bytes plus the header never exceed the input. Seeds: tests/fixtures/weights.
#include <cstdlib>

#include "tensor/error.h"
#include "tests/fuzz/fuzz_input_file.h"
#include "weights/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = fuzz_input_file(data, size);
  try {
    std::size_t bytes = 0;
    for (const auto& [name, tensor] : edat::weights::read_safetensors_with_metadata(path).tensors)
      bytes += tensor.nbytes();
    if (bytes > 2 * size) std::abort();  // F16 is widened to f32: at most twice the stored bytes
  } catch (const edat::Error&) {
  }
  return 0;
}
