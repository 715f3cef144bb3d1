#include "models/backbone.h"

#include "models/mobilenet_v2.h"
#include "models/resnet.h"
#include "models/vgg.h"

namespace edat::models {

const std::vector<std::string>& architectures() {
  static const std::vector<std::string> names = {"resnet18", "resnet34", "resnet50", "mobilenet_v2", "vgg16",
                                                 "vgg16_bn"};
  return names;
}

std::shared_ptr<Backbone> make_model(const std::string& arch, std::int64_t num_outputs, Generator& generator) {
  if (arch == "resnet18") return resnet18(num_outputs, generator);
  if (arch == "resnet34") return resnet34(num_outputs, generator);
  if (arch == "resnet50") return resnet50(num_outputs, generator);
  if (arch == "mobilenet_v2") return mobilenet_v2(num_outputs, generator);
  if (arch == "vgg16") return vgg16(num_outputs, generator);
  if (arch == "vgg16_bn") return vgg16_bn(num_outputs, generator);
  std::string known;
  for (const auto& name : architectures()) known += (known.empty() ? "" : ", ") + name;
  throw Error("unknown architecture '" + arch + "': expected one of " + known);
}

}  // namespace edat::models
