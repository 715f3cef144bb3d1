// export_onnx: a trained age model as an ONNX file, for onnxruntime and every other ONNX runtime. The weights' own
// description (edat.arch, edat.loss, edat.img_size, ...) gives the network; the file holds its evaluation-mode graph
// (batch norms folded, as edat infers), a dynamic batch, and the preprocessing as metadata (export/onnx_export.h).
// Before writing, the model goes through ONNX's checker and shape inference; a model they reject is not written.
//
//   export_onnx --weights runs/appa/best.safetensors --out age.onnx [--opset 17]
#include <CLI/CLI.hpp>
#include <cstdio>

#include "export/onnx_export.h"
#include "train/objective.h"

using namespace edat;

int main(int argc, char** argv) {
  CLI::App app{
      "Writes an age model that train_resnet trained (or the one edat ships) as an ONNX file, checked by "
      "ONNX's checker\nand shape inference. Inputs: 'image' (batch, 3, S, S), preprocessed as the metadata "
      "says; outputs:\n'output' (the network's) and 'age' (years, as predict_age --tta none)."};
  std::string weights_path, out_path;
  std::int64_t opset = 17;
  app.add_option("--weights", weights_path, "weights written by train_resnet (best.safetensors, final.safetensors)")
      ->required();
  app.add_option("--out", out_path, "the ONNX file to write")->required();
  app.add_option("--opset", opset,
                 "ONNX opset version (" + std::to_string(onnx_export::kMinOpset) + " to " +
                     std::to_string(onnx_export::max_opset()) + ")")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    onnx_export::check_opset(opset);  // before the weights are read
    const train::AgeModel age_model = train::load_age_model(weights_path);
    const onnx::ModelProto model = onnx_export::export_age_model(age_model, opset);
    onnx_export::check_onnx_model(model);
    onnx_export::save_onnx_model(model, out_path);
    const train::ModelDescription& d = age_model.description;
    std::printf(
        "export_onnx: wrote %s: %s (%s), opset %lld, input %s [batch, 3, %lld, %lld], outputs %s and %s; "
        "checked by ONNX's checker and shape inference\n",
        out_path.c_str(), d.arch.c_str(), d.loss.c_str(), static_cast<long long>(opset), onnx_export::kInputName,
        static_cast<long long>(d.img_size), static_cast<long long>(d.img_size), onnx_export::kOutputName,
        onnx_export::kAgeName);
  } catch (const std::exception& e) {  // edat::Error, a filesystem error
    std::fprintf(stderr, "export_onnx: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
