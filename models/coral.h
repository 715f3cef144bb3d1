// CORAL ordinal regression (Cao, Mirjalili, Raschka, "Rank consistent ordinal regression for neural networks with
// application to age estimation", Pattern Recognition Letters 2020; github.com/Raschka-research-group/coral-cnn).
//
// Ages are K ordered classes (label = age - min_age in [0, K)). The head turns features into K - 1 logits that share
// one weight vector and differ only by their biases:
//   logits[n, k] = x[n] . w + b[k]              k = 0 .. K-2   (Linear(in, 1, bias=false) plus K - 1 biases)
// and logit k is the log-odds of "label > k". Sharing w is what makes the K - 1 binary tasks rank consistent: the
// trained biases come out ordered, so the probabilities decrease with k.
//   loss = -mean over n of sum over k of imp[k] [log sigmoid(l) y + (log sigmoid(l) - l)(1 - y)],  y = [label > k]
// (binary cross-entropy per level, since log(1 - sigmoid(l)) = log sigmoid(l) - l), and
//   prediction = number of k with sigmoid(logits[n, k]) > 0.5, plus min_age.
#pragma once

#include <cstdint>

#include "layers/module.h"
#include "tensor/random.h"

namespace edat::models {

// Parameters: weight (1, in), initialised as PyTorch's Linear (U(+-1/sqrt(in))), and bias (K - 1), zeros as in
// coral-cnn. As a ResNet head (ResNet::set_head) they are named fc.weight and fc.bias.
class CoralHead : public nn::Module {
 public:
  CoralHead(std::int64_t in_features, std::int64_t num_classes, Generator& generator = default_generator());
  Tensor forward(const Tensor& x) override;  // (N, in) -> logits (N, K - 1)
  std::string extra_repr() const override;
  std::int64_t num_classes() const { return num_classes_; }

 private:
  std::int64_t in_, num_classes_;
};

// The K - 1 binary targets of each label: levels[n, k] = 1 where labels[n] > k, else 0. labels (N) hold class
// indices 0 .. K-1 (age - min_age) as floating values; the result has their dtype and device. Labels outside
// [0, K - 1] are an edat::Error.
Tensor coral_levels(const Tensor& labels, std::int64_t num_classes);

// The CORAL loss above for logits and levels (N, K - 1); importance (K - 1) weighs the tasks (undefined: all 1).
Tensor coral_loss(const Tensor& logits, const Tensor& levels, const Tensor& importance = Tensor());

// The predicted class per row: the number of levels with sigmoid(logit) > 0.5, as a (N) tensor of logits' dtype.
// Add min_age to get ages.
Tensor coral_predict(const Tensor& logits);

}  // namespace edat::models
