#include "weights/pretrained.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <map>

#include "weights/read_weights.h"

namespace edat::weights {

namespace {

const char* const head_prefixes[] = {"fc.", "classifier."};

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool is_batch_counter(const std::string& key) {
  const std::string name = "num_batches_tracked";
  return key == name ||
         (key.size() > name.size() && key.compare(key.size() - name.size() - 1, std::string::npos, "." + name) == 0);
}

}  // namespace

nn::LoadReport load_pretrained(nn::Module& model, const std::string& path, bool verbose) {
  nn::NamedTensors file = read_weights(path);
  std::map<std::string, Shape> model_shapes, file_shapes;
  for (const auto& [key, tensor] : model.state_dict()) model_shapes[key] = tensor.shape();
  for (const auto& [key, tensor] : file) file_shapes[key] = tensor.shape();

  nn::LoadOptions options;  // strict
  std::vector<std::string> notes;

  // A head module whose shapes differ, or which the file lacks (a feature extractor), is new: skip that module (the
  // prefix of the tensor up to its last dot: "fc." for a ResNet, "classifier.6." for VGG, whose classifier.0 and
  // classifier.3 still load), naming each of its tensors and both shapes. Only modules under a head prefix qualify;
  // other mismatches stay errors.
  std::vector<std::string> new_heads;
  for (const auto& [key, tensor] : model.state_dict()) {
    const auto found = file_shapes.find(key);
    if (is_batch_counter(key) || (found != file_shapes.end() && found->second == tensor.shape())) continue;
    const bool under_head = std::any_of(std::begin(head_prefixes), std::end(head_prefixes),
                                        [&](const char* prefix) { return starts_with(key, prefix); });
    const std::string module = key.substr(0, key.rfind('.') + 1);
    if (under_head && std::find(new_heads.begin(), new_heads.end(), module) == new_heads.end())
      new_heads.push_back(module);
  }
  for (const std::string& prefix : new_heads) {
    options.skip_prefixes.push_back(prefix);
    std::vector<std::string> keys;  // in the model's order, then what only the file has
    for (const auto& [key, tensor] : model.state_dict()) {
      if (!starts_with(key, prefix)) continue;
      const auto found = file_shapes.find(key);
      keys.push_back(key + (found == file_shapes.end()
                                ? " (not in the file)"
                                : " (file " + shape_str(found->second) + ", model " + shape_str(tensor.shape()) + ")"));
    }
    for (const auto& [key, tensor] : file)
      if (starts_with(key, prefix) && !model_shapes.count(key))
        keys.push_back(key + " (file " + shape_str(tensor.shape()) + ", not in the model)");
    std::string line = "skipped ";
    for (std::size_t i = 0; i < keys.size(); ++i)
      line += (i == 0 ? "" : i + 1 == keys.size() ? " and " : ", ") + keys[i];
    notes.push_back(line + ": the head is new and keeps its initialisation");
  }

  // num_batches_tracked on one side only: drop the file's, keep the model's.
  std::vector<std::string> file_only, model_only;
  nn::NamedTensors state;
  for (auto& [key, tensor] : file) {
    if (is_batch_counter(key) && !model_shapes.count(key)) {
      file_only.push_back(key);
    } else {
      state.emplace_back(key, std::move(tensor));
    }
  }
  for (const auto& [key, shape] : model_shapes) {
    if (is_batch_counter(key) && !file_shapes.count(key)) {
      model_only.push_back(key);
      options.skip_prefixes.push_back(key);
    }
  }
  if (!file_only.empty())
    notes.push_back("ignored " + std::to_string(file_only.size()) +
                    " num_batches_tracked tensors of the file that the model does not have");
  if (!model_only.empty())
    notes.push_back(std::to_string(model_only.size()) +
                    " num_batches_tracked buffers of the model are not in the file and keep their values");

  nn::LoadReport report;
  try {
    report = model.load_state_dict(state, options);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  // The model-only counters were passed as skip prefixes; list the file-only ones as skipped too.
  for (const std::string& key : file_only) report.skipped.push_back(key);
  if (verbose) {
    std::printf("%s: loaded %zu tensors\n", path.c_str(), report.loaded.size());
    for (const std::string& note : notes) std::printf("  %s\n", note.c_str());
  }
  return report;
}

}  // namespace edat::weights
