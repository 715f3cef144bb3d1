#include "train/evaluate.h"

#include "autograd/grad_mode.h"
#include "tensor/error.h"
#include "train/splits.h"

namespace edat::train {

Predictions predict_dataset(models::Backbone& model, const AgeObjective& objective, const data::Dataset& dataset,
                            data::LoaderOptions loader_options) {
  const ModelDescription& d = objective.description();
  loader_options.shuffle = false;
  loader_options.drop_last = false;
  data::Loader loader(dataset, eval_transforms(d.img_size, d.resize), loader_options);
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  Predictions result;
  double loss_sum = 0;
  loader.start_epoch(0);
  while (auto batch = loader.next()) {
    if (batch->size() == 0) continue;  // every image of the batch was unreadable (counted by the loader)
    const Tensor outputs = model.forward(batch->images);
    loss_sum += objective.loss(outputs, batch->ages).item() * static_cast<double>(batch->size());
    const std::vector<double> ages = objective.predict(outputs);
    const std::vector<double> truth = batch->ages.to_vector<double>();
    for (std::size_t i = 0; i < batch->size(); ++i) {
      result.paths.push_back(dataset.sample(batch->indices[i]).path);
      result.truth.push_back(truth[i]);
      result.predicted.push_back(ages[i]);
    }
  }
  model.train(was_training);
  EDAT_CHECK(!result.truth.empty(), dataset.name() << ": no image could be read for evaluation");
  result.mean_loss = loss_sum / static_cast<double>(result.truth.size());
  return result;
}

}  // namespace edat::train
