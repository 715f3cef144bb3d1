#include "models/backbone.h"

#include "models/resnet.h"

namespace edat::models {

const std::vector<std::string>& architectures() {
  static const std::vector<std::string> names = {"resnet18", "resnet34", "resnet50"};
  return names;
}

std::shared_ptr<Backbone> make_model(const std::string& arch, std::int64_t num_outputs, Generator& generator) {
  if (arch == "resnet18") return resnet18(num_outputs, generator);
  if (arch == "resnet34") return resnet34(num_outputs, generator);
  if (arch == "resnet50") return resnet50(num_outputs, generator);
  std::string known;
  for (const auto& name : architectures()) known += (known.empty() ? "" : ", ") + name;
  throw Error("unknown architecture '" + arch + "': expected one of " + known);
}

}  // namespace edat::models
