// The CORAL head, the blocks and the architectures of models/ as ONNX nodes (export/emitters.h). Each emitter
// mirrors its module's forward(): the same children in the same order, so a change there shows up here.
#include "export/emitters.h"
#include "models/coral.h"
#include "models/mobilenet_v2.h"

namespace edat::onnx_export {

namespace {

// logits = x w^T (N, 1) + b (K - 1), broadcast to (N, K - 1), as CoralHead::forward.
Value coral_head(nn::Module& module, const std::string& path, const Value& x, OnnxGraph& graph) {
  auto& head = as<models::CoralHead>(module, path);
  const std::string weight = graph.initializer(path + ".weight", own_parameter(head, "weight"));
  const std::string shared = graph.node("Gemm", {x.name, weight}, path + ".shared", {attribute("transB", 1)});
  const std::string bias = graph.initializer(path + ".bias", own_parameter(head, "bias"));
  return {graph.node("Add", {shared, bias}, path), {x.shape[0], head.num_classes() - 1}};
}

// relu(body(x) + identity), identity = downsample(x) when the block has one: BasicBlock (2 convolutions) and
// Bottleneck (3), whose body is conv1 bn1, conv2 bn2 [, conv3 bn3] with the block's ReLU module between the pairs.
Value residual_block(nn::Module& block, const std::string& path, const Value& x, OnnxGraph& graph, int convs) {
  Value y = x;
  for (int i = 1; i <= convs; ++i) {
    const std::string n = std::to_string(i);
    y = emit_child(block, path, "bn" + n, emit_child(block, path, "conv" + n, y, graph), graph);
    if (i < convs) y = emit_child(block, path, "relu", y, graph);
  }
  const Value identity = block.child("downsample") ? emit_child(block, path, "downsample", x, graph) : x;
  return emit_child(block, path, "relu", add(graph, child_path(path, "add"), y, identity), graph);
}

Value basic_block(nn::Module& module, const std::string& path, const Value& x, OnnxGraph& graph) {
  return residual_block(module, path, x, graph, 2);
}

Value bottleneck(nn::Module& module, const std::string& path, const Value& x, OnnxGraph& graph) {
  return residual_block(module, path, x, graph, 3);
}

// x + conv(x) when the block keeps stride and channels, else conv(x).
Value inverted_residual(nn::Module& module, const std::string& path, const Value& x, OnnxGraph& graph) {
  const Value y = emit_child(module, path, "conv", x, graph);
  if (!as<models::InvertedResidual>(module, path).residual()) return y;
  return add(graph, child_path(path, "add"), x, y);
}

// conv1 bn1 relu maxpool layer1..4 avgpool, flatten, [dropout], fc: ResNet::features and forward.
Value resnet(nn::Module& module, const std::string& path, const Value& x, OnnxGraph& graph) {
  Value y = x;
  for (const char* name : {"conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool"})
    y = emit_child(module, path, name, y, graph);
  y = flatten(graph, child_path(path, "flatten"), y);
  if (module.child("dropout")) y = emit_child(module, path, "dropout", y, graph);
  return emit_child(module, path, "fc", y, graph);
}

// features, a global average pool (a function call in MobileNetV2::features, no module), flatten, classifier.
Value mobilenet_v2(nn::Module& module, const std::string& path, const Value& x, OnnxGraph& graph) {
  Value y = emit_child(module, path, "features", x, graph);
  y = flatten(graph, child_path(path, "flatten"), adaptive_average_pool(graph, child_path(path, "pool"), y, 1, 1));
  return emit_child(module, path, "classifier", y, graph);
}

// features, avgpool (7 x 7), flatten, classifier.
Value vgg(nn::Module& module, const std::string& path, const Value& x, OnnxGraph& graph) {
  const Value y = emit_child(module, path, "avgpool", emit_child(module, path, "features", x, graph), graph);
  return emit_child(module, path, "classifier", flatten(graph, child_path(path, "flatten"), y), graph);
}

}  // namespace

void add_model_emitters(EmitterTable& table) {
  table["CoralHead"] = coral_head;
  table["BasicBlock"] = basic_block;
  table["Bottleneck"] = bottleneck;
  table["InvertedResidual"] = inverted_residual;
  table["ResNet"] = resnet;
  table["MobileNetV2"] = mobilenet_v2;
  table["VGG"] = vgg;
}

}  // namespace edat::onnx_export
