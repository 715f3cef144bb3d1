// An age model as an ONNX file (apps/export_onnx), built with the ONNX project's own C++ library (Debian's
// libonnx-dev) and checked by its checker and shape inference.
//
//   input   image   f32 (batch, 3, S, S): RGB face crops, preprocessed as predict_age does (metadata below)
//   output  output  f32 (batch, 1) the age in years as the network gives it, or (batch, K - 1) CORAL logits
//           age     f32 (batch): the age predict_age --tta none prints: regression: output clamped into [0, max_age];
//                   CORAL: min_age + the number of logits whose sigmoid is above 0.5
//
// The graph is the network's evaluation-mode forward (batch norms folded into the convolutions, as edat infers;
// dropout gone), written module by module by the emitters of export/emitters.h; the batch dim is dynamic. The
// metadata (metadata_props) holds the weights' own edat.* description (architecture, loss, input size, face crop,
// age range) and the preprocessing in plain keys: input_size, resize_shorter_side, center_crop, mean, std and a
// sentence, preprocessing.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>

#include "train/objective.h"

namespace edat::onnx_export {

inline constexpr const char* kInputName = "image";
inline constexpr const char* kOutputName = "output";
inline constexpr const char* kAgeName = "age";

// Opsets edat writes: from 13 (ReduceSum and Squeeze take their axes as an input) to the newest the ONNX library
// knows (17 for 1.12).
inline constexpr std::int64_t kMinOpset = 13;
std::int64_t max_opset();
// An edat::Error saying the range when `opset` is outside it.
void check_opset(std::int64_t opset);

// The ONNX model of `model` (as train::load_age_model returns it: evaluation mode, batch norms folded). An opset
// outside [kMinOpset, max_opset()], a module in training mode or a module type without an emitter is an edat::Error.
onnx::ModelProto export_age_model(const train::AgeModel& model, std::int64_t opset = 17);

// ONNX's checker (onnx::checker::check_model), then ONNX's shape inference in strict mode on a copy whose graph
// outputs have no shapes: every inferred output shape must equal the declared one. An edat::Error saying what failed.
void check_onnx_model(const onnx::ModelProto& model);

// Writes the model's protobuf bytes to `path`; an edat::Error naming the path when it cannot be written (nothing is
// left behind then).
void save_onnx_model(const onnx::ModelProto& model, const std::string& path);

}  // namespace edat::onnx_export
