// convert_weights: converts a PyTorch .pth state dict (zip or legacy format; or a safetensors file) into a safetensors
// file that edat and Python's `safetensors` package read. Key names are kept; floating tensors are written as f32,
// integer ones (num_batches_tracked) as i64. It prints what it wrote; any problem is one line on stderr and exit 1.
//
//   convert_weights resnet34-b627a593.pth resnet34.safetensors
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "weights/read_weights.h"
#include "weights/safetensors.h"

using namespace edat;

namespace {

std::string with_commas(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int run(const std::string& in, const std::string& out) {
  nn::NamedTensors tensors = weights::read_weights(in);
  std::map<std::string, int> dtypes_read;
  std::uint64_t parameters = 0, statistics = 0, counters = 0;
  for (auto& [key, tensor] : tensors) {
    ++dtypes_read[dtype_name(tensor.dtype())];
    if (ends_with(key, "num_batches_tracked")) {
      ++counters;
    } else if (ends_with(key, "running_mean") || ends_with(key, "running_var")) {
      statistics += static_cast<std::uint64_t>(tensor.numel());
    } else {
      parameters += static_cast<std::uint64_t>(tensor.numel());
    }
    if (tensor.dtype() != DType::i64) tensor = tensor.to(DType::f32);
  }
  weights::write_safetensors(out, tensors,
                             {{"format", "pt"}, {"source", std::filesystem::path(in).filename().string()}});

  std::string dtypes;
  for (const auto& [name, count] : dtypes_read)
    dtypes += (dtypes.empty() ? "" : ", ") + name + " (" + std::to_string(count) + ")";
  std::printf("convert_weights: %s -> %s\n", in.c_str(), out.c_str());
  std::printf("  tensors:    %zu (%s num_batches_tracked)\n", tensors.size(), with_commas(counters).c_str());
  std::printf("  parameters: %s elements, excluding num_batches_tracked (%s in weights, %s in running statistics)\n",
              with_commas(parameters + statistics).c_str(), with_commas(parameters).c_str(),
              with_commas(statistics).c_str());
  std::printf("  dtypes:     %s as read (f16 is read as f32); written as f32, integers as i64\n", dtypes.c_str());
  std::printf("  written:    %s bytes\n", with_commas(std::filesystem::file_size(out)).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Converts a PyTorch .pth state dict (zip or legacy format) into a safetensors file, keeping key names."};
  std::string in, out;
  app.add_option("IN", in, "the .pth (or .safetensors) file to read")->required();
  app.add_option("OUT", out, "the .safetensors file to write")->required();
  CLI11_PARSE(app, argc, argv);
  try {
    return run(in, out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "convert_weights: error: %s\n", e.what());
    return 1;
  }
}
