// The layers of layers/modules.h as ONNX nodes, one emitter each (export/emitters.h).
#include "export/emitters.h"
#include "layers/functional.h"
#include "layers/modules.h"

namespace edat::onnx_export {

namespace {

// The module's own parameter `name`, or an undefined tensor when it has none (a convolution without bias).
Value conv2d(nn::Module& module, const std::string& path, const Value& x, OnnxGraph& graph) {
  auto& conv = as<nn::Conv2d>(module, path);
  const nn::Conv2dSpec& s = conv.spec();
  std::vector<std::string> inputs = {x.name, graph.initializer(path + ".weight", conv.weight())};
  if (const Tensor bias = own_parameter(conv, "bias"); bias.defined())
    inputs.push_back(graph.initializer(path + ".bias", bias));
  auto out_size = [&](std::int64_t in) { return nn::conv_output_size(in, s.kernel, s.stride, s.padding, s.dilation); };
  return {graph.node("Conv", inputs, path,
                     {attribute("kernel_shape", {s.kernel, s.kernel}), attribute("strides", {s.stride, s.stride}),
                      attribute("pads", {s.padding, s.padding, s.padding, s.padding}),
                      attribute("dilations", {s.dilation, s.dilation}), attribute("group", s.groups)}),
          {x.shape[0], s.out, out_size(x.shape[2]), out_size(x.shape[3])}};
}

// Exported models are folded (load_age_model): the convolution before the batch norm already applies it.
Value batch_norm2d(nn::Module& module, const std::string& path, const Value& x, OnnxGraph&) {
  EDAT_CHECK(as<nn::BatchNorm2d>(module, path).folded(),
             "ONNX export: batch norm '" << path << "' is not folded into its convolution: export a model as "
                                         << "train::load_age_model loads it (layers/fold.h)");
  return x;
}

// y = x W^T + b: Gemm with transB.
Value linear(nn::Module& module, const std::string& path, const Value& x, OnnxGraph& graph) {
  auto& layer = as<nn::Linear>(module, path);
  std::vector<std::string> inputs = {x.name, graph.initializer(path + ".weight", layer.weight())};
  if (const Tensor bias = own_parameter(layer, "bias"); bias.defined())
    inputs.push_back(graph.initializer(path + ".bias", bias));
  return {graph.node("Gemm", inputs, path, {attribute("transB", 1)}), {x.shape[0], layer.weight().size(0)}};
}

Value relu(nn::Module&, const std::string& path, const Value& x, OnnxGraph& graph) {
  return {graph.node("Relu", {x.name}, path), x.shape};
}

Value relu6(nn::Module&, const std::string& path, const Value& x, OnnxGraph& graph) {
  return {graph.node("Clip", {x.name, graph.scalar(0), graph.scalar(6)}, path), x.shape};
}

Value max_pool2d(nn::Module& module, const std::string& path, const Value& x, OnnxGraph& graph) {
  const nn::Pool2dOptions& o = as<nn::MaxPool2d>(module, path).options();
  auto out_size = [&](std::int64_t in, std::int64_t k, std::int64_t stride, std::int64_t pad, std::int64_t dilation) {
    return nn::pool_output_size(in, k, stride, pad, dilation, o.ceil_mode);
  };
  return {
      graph.node("MaxPool", {x.name}, path,
                 {attribute("kernel_shape", {o.kernel_h, o.kernel_w}), attribute("strides", {o.stride_h, o.stride_w}),
                  attribute("pads", {o.pad_h, o.pad_w, o.pad_h, o.pad_w}),
                  attribute("dilations", {o.dilation_h, o.dilation_w}), attribute("ceil_mode", o.ceil_mode ? 1 : 0)}),
      {x.shape[0], x.shape[1], out_size(x.shape[2], o.kernel_h, o.stride_h, o.pad_h, o.dilation_h),
       out_size(x.shape[3], o.kernel_w, o.stride_w, o.pad_w, o.dilation_w)}};
}

Value adaptive_avg_pool2d(nn::Module& module, const std::string& path, const Value& x, OnnxGraph& graph) {
  auto& pool = as<nn::AdaptiveAvgPool2d>(module, path);
  return adaptive_average_pool(graph, path, x, pool.out_h(), pool.out_w());
}

// Evaluation mode: the identity (export_age_model refuses a model in training mode).
Value dropout(nn::Module&, const std::string&, const Value& x, OnnxGraph&) { return x; }

Value sequential(nn::Module& module, const std::string& path, const Value& x, OnnxGraph& graph) {
  Value y = x;
  for (const auto& [name, child] : module.named_children()) y = emit(*child, child_path(path, name), y, graph);
  return y;
}

}  // namespace

void add_layer_emitters(EmitterTable& table) {
  table["Conv2d"] = conv2d;
  table["BatchNorm2d"] = batch_norm2d;
  table["Linear"] = linear;
  table["ReLU"] = relu;
  table["ReLU6"] = relu6;
  table["MaxPool2d"] = max_pool2d;
  table["AdaptiveAvgPool2d"] = adaptive_avg_pool2d;
  table["Dropout"] = dropout;
  table["Sequential"] = sequential;
}

}  // namespace edat::onnx_export
