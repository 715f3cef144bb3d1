// AgeObjective: how network outputs become a loss and an age, for each --loss.
//
//   l1, mse, smooth-l1   one output, the age in years: loss(output, age), prediction = output
//   coral                K - 1 ordinal logits over the ages min_age .. min_age + K - 1 (models/coral.h):
//                        label = round(age) - min_age (clamped into range), prediction = min_age + #(p > 0.5)
//
// The objective's description travels in the metadata of every weights file a run writes (edat.arch, edat.loss,
// edat.img_size, edat.resize, edat.coral_min_age, edat.coral_classes, edat.max_age, edat.face_crop), so predict_age
// and evaluate_age rebuild the same network and preprocessing from the file alone. Predictions are clamped into the model's age range:
// 0 to the oldest training age for regression (a network can answer -3), the trained ages for coral.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/backbone.h"
#include "tensor/tensor.h"

namespace edat::train {

struct ModelDescription {
  std::string arch = "resnet34";
  std::string loss = "l1";
  std::int64_t img_size = 128;
  std::int64_t resize = 146;
  std::int64_t coral_min_age = 0;  // coral only
  std::int64_t coral_classes = 0;  // coral only: K
  double max_age = 0;              // the oldest age in the training split; 0: not recorded (files before it was)
  std::string face_crop = "none";  // how the training images were cut out of photos (data/face_crop_record.h)

  // The ages a prediction may take: [coral_min_age, coral_min_age + K - 1] for coral, else [0, max_age] (no upper
  // bound when max_age is not recorded).
  std::pair<double, double> age_range() const;

  std::int64_t num_outputs() const { return loss == "coral" ? coral_classes - 1 : 1; }
  std::map<std::string, std::string> metadata() const;
  // Reads the edat.* keys; nullopt-like: returns false when the file has none (a converted torchvision file).
  static bool from_metadata(const std::map<std::string, std::string>& metadata, ModelDescription& out,
                            const std::string& source);
};

// The loss a run trains with, parsed from its name (--loss, edat.loss) once, when an AgeObjective is made, so that
// the training step compares no strings.
enum class LossKind { l1, mse, smooth_l1, coral };
// "l1", "mse", "smooth-l1" or "coral"; anything else is an edat::Error listing them.
LossKind parse_loss(const std::string& name);

class AgeObjective {
 public:
  // An unknown description.loss is an edat::Error here.
  explicit AgeObjective(ModelDescription description);
  const ModelDescription& description() const { return description_; }
  // outputs (N, num_outputs) and ages (N) in years -> a scalar loss.
  Tensor loss(const Tensor& outputs, const Tensor& ages) const;
  // outputs (N, num_outputs) -> N ages in years, as the network gives them (possibly outside any real age).
  std::vector<double> raw_ages(const Tensor& outputs) const;
  // raw_ages clamped into the description's age_range().
  std::vector<double> predict(const Tensor& outputs) const;
  std::vector<double> clamp(std::vector<double> ages) const;

 private:
  ModelDescription description_;
  LossKind kind_;
};

// The network of a description: make_model with num_outputs() outputs, with a CORAL head for coral.
std::shared_ptr<models::Backbone> build_model(const ModelDescription& description, Generator& generator);

// A trained network read back from a weights file that train_resnet wrote (best/final.safetensors), for evaluate_age
// and predict_age. The file's edat.* metadata describes the network; `arch` and `img_size` (when not empty / 0)
// must agree with it, and describe a file without metadata (a plain one-output regression model then). Weights of
// another architecture are an edat::Error naming the file. The network is built without drawing initial weights
// (nn::SkipInitGuard) and the file is read once: this is most of predict_age's start-up.
struct AgeModel {
  ModelDescription description;
  std::shared_ptr<models::Backbone> model;  // in evaluation mode, batch norms folded (it cannot train)
  std::vector<std::string> warnings;        // for the user: an img_size other than the trained one
};
AgeModel load_age_model(const std::string& weights_path, const std::string& arch = "", std::int64_t img_size = 0);

}  // namespace edat::train
