#include "models/coral.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "layers/init_mode.h"
#include "tensor/factory.h"

namespace edat::models {

CoralHead::CoralHead(std::int64_t in_features, std::int64_t num_classes, Generator& generator)
    : Module("CoralHead"), in_(in_features), num_classes_(num_classes) {
  EDAT_CHECK(in_features > 0, "CoralHead: in_features must be positive, got " << in_features);
  EDAT_CHECK(num_classes >= 2, "CoralHead: needs at least 2 classes (ages), got " << num_classes);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  register_parameter("weight", nn::init_uniform({1, in_features}, -bound, bound, generator));
  register_parameter("bias", zeros({num_classes - 1}));
}

// logits = x w^T (N, 1) + b (K - 1), broadcast to (N, K - 1): the gradient of w sums over all K - 1 tasks.
Tensor CoralHead::forward(const Tensor& x) {
  EDAT_CHECK(x.dim() == 2 && x.size(1) == in_, "CoralHead: expects features (N, " << in_ << "), got " << x.desc());
  return matmul(x, parameter("weight"), false, true) + parameter("bias");
}

std::string CoralHead::extra_repr() const {
  return "in_features=" + std::to_string(in_) + ", num_classes=" + std::to_string(num_classes_);
}

Tensor coral_levels(const Tensor& labels, std::int64_t num_classes) {
  EDAT_CHECK(labels.defined() && labels.dim() == 1 && is_floating(labels.dtype()),
             "coral_levels: expects floating labels (N), got " << (labels.defined() ? labels.desc() : "undefined"));
  EDAT_CHECK(num_classes >= 2, "coral_levels: needs at least 2 classes, got " << num_classes);
  const std::vector<double> values = labels.to_vector<double>();
  for (std::size_t n = 0; n < values.size(); ++n) {
    const double v = values[n];
    EDAT_CHECK(v >= 0 && v <= static_cast<double>(num_classes - 1) && v == std::floor(v),
               "coral_levels: label " << n << " is " << v << ", not a class index in [0, " << num_classes - 1
                                      << "] (labels are age - min_age)");
  }
  const Options options{.dtype = labels.dtype(), .device = labels.device()};
  const Tensor thresholds =
      arange(0, static_cast<double>(num_classes - 1), 1, options).untracked_view({1, num_classes - 1});
  return greater(labels.untracked_view({labels.size(0), 1}), thresholds);  // [label > k]
}

Tensor coral_loss(const Tensor& logits, const Tensor& levels, const Tensor& importance) {
  EDAT_CHECK(logits.defined() && levels.defined(), "coral_loss: undefined logits or levels");
  EDAT_CHECK(logits.dim() == 2 && logits.size(0) > 0 && logits.size(1) > 0,
             "coral_loss: expects logits (N, K - 1), got " << logits.desc());
  EDAT_CHECK(levels.shape() == logits.shape(),
             "coral_loss: levels " << levels.desc() << " must match logits " << logits.desc());
  // log(1 - sigmoid(l)) = log sigmoid(l) - l: both terms from one stable log_sigmoid.
  const Tensor log_p = log_sigmoid(logits);
  Tensor terms = log_p * levels + (log_p - logits) * (1.0 - levels);
  if (importance.defined()) {
    EDAT_CHECK(importance.dim() == 1 && importance.size(0) == logits.size(1),
               "coral_loss: importance " << importance.desc() << " must hold one weight per level of logits "
                                         << logits.desc());
    terms = terms * importance;
  }
  return neg(mean(sum(terms, {1})));
}

Tensor coral_predict(const Tensor& logits) {
  EDAT_CHECK(logits.defined() && logits.dim() == 2,
             "coral_predict: expects logits (N, K - 1), got " << (logits.defined() ? logits.desc() : "undefined"));
  NoGradGuard no_grad;
  return sum(greater(sigmoid(logits), 0.5), {1});
}

}  // namespace edat::models
