#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/factory.h"

namespace edat {

std::string GradcheckResult::summary() const {
  std::ostringstream out;
  out << (ok ? "gradcheck passed" : "gradcheck FAILED") << "; worst error / tolerance = " << worst_ratio;
  if (!worst.empty()) out << " at " << worst;
  return out.str();
}

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  // Fresh leaves holding copies, so the caller's tensors are neither perturbed nor given gradients.
  std::vector<Tensor> leaves;
  for (const Tensor& input : inputs) {
    Tensor leaf = input.detach().clone();
    if (input.requires_grad()) leaf.set_requires_grad(true);
    leaves.push_back(leaf);
  }
  return gradcheck_in_place([&] { return fn(leaves); }, leaves, options);
}

GradcheckResult gradcheck_in_place(const std::function<Tensor()>& fn, const std::vector<Tensor>& leaves,
                                   const GradcheckOptions& options) {
  for (const Tensor& leaf : leaves) {
    EDAT_CHECK(leaf.dtype() == DType::f64 && leaf.device().is_cpu(),
               "gradcheck: inputs must be f64 CPU tensors for accurate differences, got " << leaf.desc());
    leaf.zero_grad();
  }
  Tensor y = fn();
  Generator generator(options.seed);
  const Tensor w = uniform(y.shape(), -1.0, 1.0, generator, {.dtype = DType::f64});
  sum(y * w).backward();

  auto loss_at = [&]() {
    NoGradGuard no_grad;
    return sum(fn() * w).item();
  };

  GradcheckResult result;
  for (std::size_t k = 0; k < leaves.size(); ++k) {
    if (!leaves[k].requires_grad()) continue;
    EDAT_CHECK(leaves[k].grad().defined(), "gradcheck: input " << k << " (" << leaves[k].desc()
                                                               << ") received no gradient from backward()");
    const std::vector<double> analytic = leaves[k].grad().to_vector<double>();
    double* x = leaves[k].data<double>();
    for (std::int64_t j = 0; j < leaves[k].numel(); ++j) {
      const double saved = x[j];
      x[j] = saved + options.eps;
      const double plus = loss_at();
      x[j] = saved - options.eps;
      const double minus = loss_at();
      x[j] = saved;
      const double numeric = (plus - minus) / (2 * options.eps);
      const double a = analytic[static_cast<std::size_t>(j)];
      const double ratio = std::abs(a - numeric) / (options.atol + options.rtol * std::abs(numeric));
      if (!(ratio <= result.worst_ratio) || std::isnan(ratio)) {
        result.worst_ratio = std::isnan(ratio) ? INFINITY : ratio;
        std::ostringstream where;
        where.precision(12);
        where << "input " << k << " " << leaves[k].desc() << ", element " << j << ": analytic " << a << ", numeric "
              << numeric;
        result.worst = where.str();
      }
    }
  }
  result.ok = result.worst_ratio <= 1.0;
  return result;
}

}  // namespace edat
