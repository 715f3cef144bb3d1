// compare_weights A.safetensors B.safetensors RTOL: exit 0 when both files hold the same tensor names and shapes and
// every tensor of A is within RTOL of B's, relative to B's largest magnitude (max |a - b| <= RTOL max |b|; RTOL 0:
// bit-identical values); otherwise exit 1 naming the worst tensor. COMPARE_WEIGHTS_ALL=1 prints every tensor. For the
// data-parallel tests (dist_test.sh).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "weights/safetensors.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: compare_weights A.safetensors B.safetensors RTOL\n");
    return 2;
  }
  try {
    const double rtol = std::stod(argv[3]);
    std::map<std::string, edat::Tensor> b;
    for (auto& [name, tensor] : edat::weights::read_safetensors(argv[2])) b[name] = tensor;
    const auto a = edat::weights::read_safetensors(argv[1]);
    if (a.size() != b.size()) {
      std::printf("%zu tensors in %s, %zu in %s\n", a.size(), argv[1], b.size(), argv[2]);
      return 1;
    }
    double worst = 0;
    std::string worst_name;
    for (const auto& [name, tensor] : a) {
      const auto found = b.find(name);
      if (found == b.end() || found->second.shape() != tensor.shape()) {
        std::printf("%s: missing or of another shape in %s\n", name.c_str(), argv[2]);
        return 1;
      }
      const auto x = tensor.to_vector<double>(), y = found->second.to_vector<double>();
      double difference = 0, scale = 0;
      for (std::size_t i = 0; i < x.size(); ++i) {
        difference = std::max(difference, std::abs(x[i] - y[i]));
        scale = std::max(scale, std::abs(y[i]));
      }
      const double relative = difference == 0 ? 0 : difference / std::max(scale, 1e-30);
      if (!(relative <= worst)) worst = relative, worst_name = name;
      if (std::getenv("COMPARE_WEIGHTS_ALL")) std::printf("%s %.3g (max |b| %.3g)\n", name.c_str(), relative, scale);
    }
    std::printf("%zu tensors; largest relative difference %.3g (%s)\n", a.size(), worst,
                worst_name.empty() ? "none" : worst_name.c_str());
    return worst <= rtol ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "compare_weights: %s\n", e.what());
    return 2;
  }
}
