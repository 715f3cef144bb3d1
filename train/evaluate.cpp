#include "train/evaluate.h"

#include "autograd/grad_mode.h"
#include "tensor/error.h"
#include "tensor/factory.h"
#include "train/splits.h"

namespace edat::train {

Tensor eval_batch(const std::vector<data::Image>& images, const data::Compose& transforms, std::int64_t size) {
  const std::int64_t n = static_cast<std::int64_t>(images.size());
  const data::Normalize normalize;
  Generator unused(0);  // the evaluation transform draws nothing
  Tensor batch = empty({n, 3, size, size});
  for (std::int64_t i = 0; i < n; ++i) {
    const data::Image image = transforms.apply(images[static_cast<std::size_t>(i)], unused);
    EDAT_CHECK(image.width == size && image.height == size,
               "eval_batch: the transform gives " << image.width << " x " << image.height << ", not " << size << " x "
                                                  << size);
    normalize(image, batch.data<float>() + i * 3 * size * size);
  }
  return batch;
}

Tensor mirrored(const Tensor& images) {
  EDAT_CHECK(images.dim() == 4 && images.dtype() == DType::f32, "mirrored: expects f32 (N, C, H, W), got " << images.desc());
  const Tensor source = images.cpu();
  Tensor out = empty(source.shape());
  const std::int64_t rows = source.numel() / source.size(3), width = source.size(3);
  const float* from = source.data<float>();
  float* to = out.data<float>();
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t x = 0; x < width; ++x) to[r * width + x] = from[r * width + width - 1 - x];
  return out.to(images.device());
}

void average_with_mirror(models::Backbone& model, const AgeObjective& objective, const Tensor& images,
                         std::vector<double>& ages) {
  const std::vector<double> mirror = objective.raw_ages(model.forward(mirrored(images)));
  EDAT_CHECK(mirror.size() == ages.size(), "average_with_mirror: " << ages.size() << " ages for " << mirror.size()
                                                                   << " images");
  for (std::size_t i = 0; i < ages.size(); ++i) ages[i] = (ages[i] + mirror[i]) / 2;
}

Predictions predict_dataset(models::Backbone& model, const AgeObjective& objective, const data::Dataset& dataset,
                            data::LoaderOptions loader_options, bool tta_flip) {
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
    std::vector<double> ages = objective.raw_ages(outputs);
    if (tta_flip) average_with_mirror(model, objective, batch->images, ages);
    ages = objective.clamp(std::move(ages));
    const std::vector<double> truth = batch->ages.to_vector<double>();
    for (std::size_t i = 0; i < batch->size(); ++i) {
      result.indices.push_back(batch->indices[i]);
      result.paths.push_back(dataset.sample(batch->indices[i]).path);
      result.truth.push_back(truth[i]);
      result.predicted.push_back(ages[i]);
    }
  }
  model.train(was_training);
  EDAT_CHECK(!result.truth.empty() || loader_options.shards > 1,
             dataset.name() << ": no image could be read for evaluation");
  result.mean_loss = result.truth.empty() ? 0 : loss_sum / static_cast<double>(result.truth.size());
  return result;
}

}  // namespace edat::train
