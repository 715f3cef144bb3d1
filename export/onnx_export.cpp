#include "export/onnx_export.h"

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/transforms.h"
#include "export/emitters.h"

namespace edat::onnx_export {

namespace {

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

std::string numbers(const std::array<float, 3>& values) {
  return number(values[0]) + "," + number(values[1]) + "," + number(values[2]);
}

// The age predict_age gives with --tta none (train::AgeObjective::predict): the one output clamped into [0, max_age]
// (no upper bound when the weights do not record the oldest training age), or for CORAL min_age plus the number of
// levels whose probability is above 0.5. CORAL's ages lie in its range by construction: no clamp.
Value age_of(const train::ModelDescription& d, const Value& output, OnnxGraph& graph) {
  const std::int64_t batch = output.shape[0];
  if (d.loss == "coral") {
    const std::string p = graph.node("Sigmoid", {output.name}, "age.probabilities");
    const std::string above = graph.node("Greater", {p, graph.scalar(0.5f)}, "age.levels_above_half");
    const std::string counted =
        graph.node("Cast", {above}, "age.levels_float", {attribute("to", onnx::TensorProto::FLOAT)});
    const std::string levels = graph.node("ReduceSum", {counted, graph.i64_initializer("age.axes", {1})}, "age.levels",
                                          {attribute("keepdims", 0)});
    return {graph.node("Add", {levels, graph.scalar(static_cast<float>(d.coral_min_age))}, kAgeName), {batch}};
  }
  const std::string years = graph.node("Squeeze", {output.name, graph.i64_initializer("age.axes", {1})}, "age.raw");
  const auto [low, high] = d.age_range();
  const std::string upper = std::isfinite(high) ? graph.scalar(static_cast<float>(high)) : "";
  return {graph.node("Clip", {years, graph.scalar(static_cast<float>(low)), upper}, kAgeName), {batch}};
}

void add_metadata(onnx::ModelProto& model, const std::string& key, const std::string& value) {
  onnx::StringStringEntryProto& entry = *model.add_metadata_props();
  entry.set_key(key);
  entry.set_value(value);
}

// The weights' description (edat.* keys, as train_resnet writes them) and the preprocessing in plain words.
void describe(onnx::ModelProto& model, const train::ModelDescription& d) {
  for (const auto& [key, value] : d.metadata()) add_metadata(model, key, value);
  const data::Normalize normalize;  // the normalisation predict_age applies
  const std::string size = std::to_string(d.img_size), resize = std::to_string(d.resize);
  add_metadata(model, "input_size", size);
  add_metadata(model, "resize_shorter_side", resize);
  add_metadata(model, "center_crop", size);
  add_metadata(model, "mean", numbers(normalize.mean));
  add_metadata(model, "std", numbers(normalize.std));
  const auto [low, high] = d.age_range();
  add_metadata(model, "age_range", number(low) + "," + (std::isfinite(high) ? number(high) : "inf"));
  const std::string crop = size + " x " + size;
  add_metadata(model, "preprocessing",
               "an RGB face crop, cut out of a photo as edat.face_crop says (" + d.face_crop +
                   "); resize its shorter side to " + resize +
                   " px (antialiased bilinear, as torchvision's Resize); crop the centre " + crop +
                   "; divide by 255; subtract mean and divide by std per channel; float32, channels first (N, 3, " +
                   size + ", " + size + ")");
}

std::string shape_text(const onnx::TypeProto& type) {
  if (!type.tensor_type().has_shape()) return "no shape";
  std::string text = "[";
  for (const onnx::TensorShapeProto::Dimension& dim : type.tensor_type().shape().dim()) {
    if (text.size() > 1) text += ", ";
    text += dim.has_dim_value() ? std::to_string(dim.dim_value()) : dim.has_dim_param() ? dim.dim_param() : "?";
  }
  return text + "]";
}

}  // namespace

std::int64_t max_opset() {
  return onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map().at(onnx::ONNX_DOMAIN).second;
}

void check_opset(std::int64_t opset) {
  EDAT_CHECK(opset >= kMinOpset && opset <= max_opset(),
             "ONNX opset " << opset << " is not one edat writes: " << kMinOpset << " to " << max_opset()
                           << " (the newest this ONNX library, " << EDAT_ONNX_VERSION << ", knows)");
}

onnx::ModelProto export_age_model(const train::AgeModel& age_model, std::int64_t opset) {
  check_opset(opset);
  nn::Module& network = *age_model.model;
  for (auto& [name, module] : network.named_modules())
    EDAT_CHECK(!module->is_training(), "ONNX export: module '"
                                           << (name.empty() ? "(the model)" : name)
                                           << "' is in training mode: export an evaluation-mode model");
  const train::ModelDescription& d = age_model.description;

  onnx::ModelProto model;
  model.set_ir_version(onnx::IR_VERSION);
  model.set_producer_name("edat");
  model.set_producer_version(EDAT_VERSION);
  model.set_doc_string("edat age model: " + d.arch + " (" + d.loss + "), " + std::to_string(d.img_size) +
                       " px face crops; see the metadata for the preprocessing");
  onnx::OperatorSetIdProto& opset_import = *model.add_opset_import();
  opset_import.set_domain(onnx::ONNX_DOMAIN);
  opset_import.set_version(opset);
  describe(model, d);

  onnx::GraphProto& proto = *model.mutable_graph();
  proto.set_name(d.arch + "_age");
  OnnxGraph graph(proto);
  const Value image = graph.input(kInputName, {kBatch, 3, d.img_size, d.img_size},
                                  "RGB face crops, normalised as the metadata's preprocessing says");
  const Value network_output = emit(network, "", image, graph);
  const Value output{graph.node("Identity", {network_output.name}, kOutputName), network_output.shape};
  graph.output(output, d.loss == "coral" ? "CORAL logits: level k is the log-odds of age > min_age + k"
                                         : "the age in years, as the network gives it");
  graph.output(age_of(d, output, graph), "the age in years, as predict_age --tta none gives it");
  return model;
}

void check_onnx_model(const onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw Error(std::string("the ONNX checker rejects the model: ") + e.what());
  }
  // Shape inference on a copy whose outputs say nothing of their shapes, so that what it finds is its own.
  onnx::ModelProto inferred = model;
  for (onnx::ValueInfoProto& output : *inferred.mutable_graph()->mutable_output())
    output.mutable_type()->mutable_tensor_type()->clear_shape();
  try {
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*error_mode=*/1));
  } catch (const std::exception& e) {
    throw Error(std::string("ONNX shape inference fails on the model: ") + e.what());
  }
  for (int i = 0; i < model.graph().output_size(); ++i) {
    const onnx::ValueInfoProto& declared = model.graph().output(i);
    const onnx::ValueInfoProto& found = inferred.graph().output(i);
    EDAT_CHECK(shape_text(found.type()) == shape_text(declared.type()),
               "ONNX shape inference gives output " << declared.name() << " the shape " << shape_text(found.type())
                                                    << ", the model declares " << shape_text(declared.type()));
  }
}

void save_onnx_model(const onnx::ModelProto& model, const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  EDAT_CHECK(out, "cannot write " << path << ": " << std::strerror(errno));
  const bool written = model.SerializeToOstream(&out) && out.flush();
  if (!written) {
    const std::string reason = std::strerror(errno);
    out.close();
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
    throw Error("cannot write " + path + ": " + reason);
  }
}

}  // namespace edat::onnx_export
