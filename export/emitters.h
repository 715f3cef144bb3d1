// How edat's modules become ONNX nodes: one small emitter per kind of module, picked by the module's type name.
// An emitter writes the nodes of its module's evaluation-mode forward (the one load_age_model runs: batch norms
// folded into their convolutions, dropout the identity) and returns the output value with its shape.
//
//   layer_emitters.cpp   Conv2d -> Conv (group for depthwise), BatchNorm2d (folded) -> nothing, Linear -> Gemm,
//                        ReLU -> Relu, ReLU6 -> Clip(0, 6), MaxPool2d -> MaxPool, AdaptiveAvgPool2d ->
//                        GlobalAveragePool or two MatMuls, Dropout -> nothing, Sequential -> its children in order
//   model_emitters.cpp   CoralHead -> Gemm + Add; BasicBlock, Bottleneck, InvertedResidual (residual Add), ResNet,
//                        MobileNetV2, VGG: each mirrors its module's forward(), naming its children
#pragma once

#include <map>
#include <string>

#include "export/onnx_graph.h"
#include "layers/module.h"
#include "tensor/error.h"

namespace edat::onnx_export {

// Emits `module` (at `path` in the model: "layer1.0" for a block, "" for the root) applied to `input`.
using Emitter = Value (*)(nn::Module& module, const std::string& path, const Value& input, OnnxGraph& graph);
using EmitterTable = std::map<std::string, Emitter>;  // by nn::Module::type_name()
void add_layer_emitters(EmitterTable& table);
void add_model_emitters(EmitterTable& table);

// The emitter of `module`'s type applied to it; a module type without one is an edat::Error naming the module.
Value emit(nn::Module& module, const std::string& path, const Value& input, OnnxGraph& graph);
// The child `name` of `parent` emitted on `input` (a missing child is an edat::Error).
Value emit_child(nn::Module& parent, const std::string& path, const std::string& name, const Value& input,
                 OnnxGraph& graph);
std::string child_path(const std::string& path, const std::string& name);

// Nodes some emitters share: a named functional step of a forward() that is no module (the global pool of
// MobileNetV2, the flatten of every architecture, a block's residual sum and its ReLU module applied again).
// PyTorch's adaptive average pooling to (out_h, out_w): windows [floor(i H / out), ceil((i + 1) H / out)).
Value adaptive_average_pool(OnnxGraph& graph, const std::string& name, const Value& x, std::int64_t out_h,
                            std::int64_t out_w);
Value flatten(OnnxGraph& graph, const std::string& name, const Value& x);  // (N, ...) -> (N, product)
Value add(OnnxGraph& graph, const std::string& name, const Value& a, const Value& b);

// The module's own parameter `name`, or an undefined tensor when it has none (a convolution without bias).
Tensor own_parameter(nn::Module& module, const std::string& name);

// `module` as the class its type name promises (an edat::Error naming the module when it is not).
template <class M>
M& as(nn::Module& module, const std::string& path) {
  auto* typed = dynamic_cast<M*>(&module);
  EDAT_CHECK(typed != nullptr,
             "ONNX export: module '" << path << "' (" << module.type_name() << ") is not the class its type name says");
  return *typed;
}

}  // namespace edat::onnx_export
