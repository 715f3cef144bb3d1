#include "train/replicas.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "tensor/error.h"

namespace edat::train {

void agree_on_settings(dist::Communicator& comm, TrainConfig& config) {
  if (!comm.distributed()) return;
  const nlohmann::json mine = to_json(config);
  std::string text = mine.dump();
  comm.broadcast(text, 0, "rank 0's settings");
  const nlohmann::json root = nlohmann::json::parse(text);
  if (config.out.empty()) config.out = root.at("out").get<std::string>();
  std::string differing;
  for (const auto& [key, value] : root.items()) {
    if (key == "out" && mine.at(key).get<std::string>().empty()) continue;
    if (!mine.contains(key) || mine.at(key) != value) {
      std::ostringstream line;  // (a stream: GCC 12 warns falsely about long string sums, -Wrestrict)
      line << " --" << key << " " << (mine.contains(key) ? mine.at(key).dump() : "(none)") << " (rank 0: "
           << value.dump() << ")";
      differing += line.str();
    }
  }
  EDAT_CHECK(differing.empty(), comm.who() << ": settings differ from rank 0's:" << differing
                                           << "; start every process with the same flags");
}

void share_rank0_state(dist::Communicator& comm, models::Backbone& model, bool buffers_only) {
  if (!comm.distributed()) return;
  for (auto& [name, tensor] : buffers_only ? model.named_buffers() : model.state_dict())
    comm.broadcast(tensor, 0, buffers_only ? "rank 0's batch-norm statistics" : "rank 0's weights");
}

void check_replicas_equal(dist::Communicator& comm, models::Backbone& model) {
  if (!comm.distributed()) return;
  std::uint64_t hash = 1469598103934665603ull;  // FNV-1a over every parameter's bytes
  for (const auto& [name, tensor] : model.named_parameters()) {
    const Tensor host = tensor.cpu();
    const auto* bytes = static_cast<const unsigned char*>(host.raw_data());
    for (std::size_t i = 0; i < host.nbytes(); ++i) hash = (hash ^ bytes[i]) * 1099511628211ull;
  }
  // Two exact halves: a double holds 32-bit integers exactly.
  const std::vector<double> all = comm.all_gather({static_cast<double>(hash >> 32), static_cast<double>(hash & 0xffffffffu)},
                                                  "the replicas' parameter hashes");
  std::string differing;
  for (std::size_t r = 1; r * 2 < all.size(); ++r)
    if (all[2 * r] != all[0] || all[2 * r + 1] != all[1]) differing.append(" ").append(std::to_string(r));
  EDAT_CHECK(differing.empty(), "data-parallel training: after the first step the parameters of rank(s)"
                                    << differing << " differ from rank 0's; the replicas are no longer one model");
}

Predictions gather_predictions(dist::Communicator& comm, const Predictions& mine, const data::Dataset& dataset) {
  if (!comm.distributed()) return mine;
  std::vector<double> rows;  // (index, truth, predicted) per image
  for (std::size_t i = 0; i < mine.indices.size(); ++i)
    rows.insert(rows.end(), {static_cast<double>(mine.indices[i]), mine.truth[i], mine.predicted[i]});
  const std::vector<double> all = comm.all_gather(rows, "the evaluation's predictions");
  const double loss_sum = comm.sum(mine.mean_loss * static_cast<double>(mine.truth.size()), "the evaluation loss");
  std::vector<std::size_t> order(all.size() / 3);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return all[3 * a] < all[3 * b]; });
  Predictions result;
  for (std::size_t k : order) {
    const auto index = static_cast<std::size_t>(all[3 * k]);
    result.indices.push_back(index);
    result.paths.push_back(dataset.sample(index).path);
    result.truth.push_back(all[3 * k + 1]);
    result.predicted.push_back(all[3 * k + 2]);
  }
  EDAT_CHECK(!result.truth.empty(), dataset.name() << ": no image could be read for evaluation");
  result.mean_loss = loss_sum / static_cast<double>(result.truth.size());
  return result;
}

}  // namespace edat::train
