#include "weights/pretrained.h"

#include <cstdio>
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

  // A head whose shapes differ is new: skip its whole prefix, naming each tensor and both shapes.
  for (const std::string prefix : head_prefixes) {
    bool differs = false;
    for (const auto& [key, shape] : model_shapes) {
      const auto found = file_shapes.find(key);
      if (starts_with(key, prefix) && found != file_shapes.end() && found->second != shape) differs = true;
    }
    if (!differs) continue;
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
