// evaluate_age: a trained network on a dataset split: MAE, RMSE, CS(5) (share of predictions within 5 years),
// MAE per 10-year age bucket, and a predictions CSV.
//
//   evaluate_age --weights runs/appa/best.safetensors --dataset appa-real --data-root appa-real-release --split test
//   evaluate_age --weights best.safetensors --dataset cacd --data-root CACD2000 --csv coral_cacd_test.csv
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "data/datasets.h"
#include "data/loader.h"
#include "tensor/error.h"
#include "track/metrics.h"
#include "train/evaluate.h"
#include "train/objective.h"

using namespace edat;

int main(int argc, char** argv) {
  CLI::App app{"Evaluates a network trained by train_resnet on a dataset split."};
  std::string weights_path, dataset = "appa-real", data_root, csv, split = "test", target = "apparent";
  std::string predictions_path, device_name = "cpu";
  int batch_size = 64, workers = 2;
  bool json_output = false;
  app.add_option("--weights", weights_path, "weights written by train_resnet")->required();
  app.add_option("--dataset", dataset, "appa-real, cacd, afad, utkface or csv")->capture_default_str();
  app.add_option("--data-root", data_root, "the dataset's folder")->required();
  app.add_option("--csv", csv, "label file of the split (CORAL split CSVs, csv's path,age list)");
  app.add_option("--split", split, "APPA-REAL split: train, valid or test")->capture_default_str();
  app.add_option("--target", target, "APPA-REAL target: apparent or real")->capture_default_str();
  app.add_option("--predictions", predictions_path, "write image,true_age,predicted_age,abs_error here");
  app.add_option("--batch-size", batch_size, "images per batch")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--workers", workers, "image loading threads")->capture_default_str()->check(CLI::Range(0, 256));
  app.add_option("--device", device_name, "cpu or cuda")->capture_default_str();
  app.add_flag("--json", json_output,
               "print {\"dataset\", \"images\", \"mae\", \"rmse\", \"cs5\", \"buckets\": [{\"ages\", \"images\", "
               "\"mae\"}]} instead of lines");
  std::string tta = "none";
  app.add_option("--tta", tta, "test-time augmentation: none, or flip (the mean of each image's and its mirror's age)")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "flip"}));
  CLI11_PARSE(app, argc, argv);
  data::keep_freed_memory_for_reuse();  // the loader's images reuse freed memory (data/loader.h)

  try {
    EDAT_CHECK(target == "apparent" || target == "real", "--target must be apparent or real, not " << target);
    const train::AgeModel age_model = train::load_age_model(weights_path);
    const Device device = Device::parse(device_name);
    age_model.model->to(device);
    data::DatasetOptions options;
    options.root = data_root;
    options.csv = csv;
    options.split = split;
    options.target = target == "real" ? data::AppaTarget::real : data::AppaTarget::apparent;
    const auto data = data::open_dataset(dataset, options);
    data::LoaderOptions loader;
    loader.batch_size = batch_size;
    loader.workers = workers;
    loader.device = device;
    const train::Predictions p = train::predict_dataset(*age_model.model, train::AgeObjective(age_model.description),
                                                        *data, loader, tta == "flip");
    const track::AgeMetrics m = p.metrics();
    if (!predictions_path.empty()) track::write_predictions_csv(predictions_path, p.paths, p.truth, p.predicted);
    if (json_output) {
      nlohmann::json buckets = nlohmann::json::array();
      for (const track::Bucket& b : m.buckets)
        if (b.count > 0) buckets.push_back({{"ages", b.label}, {"images", b.count}, {"mae", b.mae}});
      const nlohmann::json results = {{"dataset", data->name()}, {"images", m.count}, {"mae", m.mae},
                                      {"rmse", m.rmse},          {"cs5", m.cs5},      {"buckets", buckets}};
      std::printf("%s\n", results.dump(2).c_str());
      return 0;
    }
    std::printf("%s: %zu images\nMAE %.3f\nRMSE %.3f\nCS(5) %.1f%%\nMAE per age bucket:\n", data->name().c_str(),
                m.count, m.mae, m.rmse, 100 * m.cs5);
    for (const track::Bucket& b : m.buckets) {
      if (b.count > 0) std::printf("  %-8s %6zu images  MAE %.3f\n", b.label.c_str(), b.count, b.mae);
    }
    if (!predictions_path.empty()) std::printf("predictions: %s\n", predictions_path.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "evaluate_age: error: %s\n", e.what());
    return 1;
  }
}
