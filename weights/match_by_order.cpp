#include "weights/match_by_order.h"

#include <algorithm>

#include "tensor/error.h"

namespace edat::weights {

namespace {

bool is_batch_counter(const std::string& key) { return key.ends_with("num_batches_tracked"); }
// By value, not name: the file's names are not the model's. A batch-norm counter is the only 0-dim i64 tensor.
bool is_counter_like(const Tensor& tensor) { return tensor.dim() == 0 && tensor.dtype() == DType::i64; }

}  // namespace

OrderMatch match_by_order(const nn::NamedTensors& file, const nn::NamedTensors& model, const std::string& head_prefix,
                          const std::string& source) {
  const bool file_has_counters =
      std::any_of(file.begin(), file.end(), [](const auto& entry) { return is_counter_like(entry.second); });
  OrderMatch match;
  nn::NamedTensors targets;
  for (const auto& entry : model) {
    if (!file_has_counters && is_batch_counter(entry.first)) {
      match.unmatched.push_back(entry.first);
    } else {
      targets.push_back(entry);
    }
  }
  for (std::size_t i = 0; i < std::min(file.size(), targets.size()); ++i) {
    const auto& [name, tensor] = file[i];
    const auto& [target, like] = targets[i];
    EDAT_CHECK(tensor.shape() == like.shape(),
               source << ": tensor " << i + 1 << " '" << name << "' " << shape_str(tensor.shape())
                      << " does not fit the model's tensor " << i + 1 << " '" << target << "' "
                      << shape_str(like.shape()) << " (the first mismatch; the orders differ from here on)");
    match.tensors.emplace_back(target, tensor);
  }
  EDAT_CHECK(file.size() <= targets.size(), source << " has " << file.size() << " tensors, more than the model's "
                                                   << targets.size() << ": its order cannot be the model's");
  for (std::size_t i = file.size(); i < targets.size(); ++i) {
    const std::string& target = targets[i].first;
    EDAT_CHECK(!head_prefix.empty() && target.starts_with(head_prefix),
               source << " ends after " << file.size() << " tensors, but the model's tensor " << i + 1 << " '"
                      << target << "' is not part of its head (" << head_prefix << "): only a head may be missing");
    match.unmatched.push_back(target);
  }
  return match;
}

}  // namespace edat::weights
