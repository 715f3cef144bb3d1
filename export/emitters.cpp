// The emitter table, and the nodes several emitters share.
#include "export/emitters.h"

#include <algorithm>
#include <cmath>

namespace edat::onnx_export {

namespace {

const EmitterTable& emitters() {
  static const EmitterTable table = [] {
    EmitterTable t;
    add_layer_emitters(t);
    add_model_emitters(t);
    return t;
  }();
  return table;
}

// Row i averages input positions [floor(i in / out), ceil((i + 1) in / out)): the (out, in) matrix of one axis.
std::vector<float> pooling_matrix(std::int64_t in, std::int64_t out) {
  std::vector<float> m(static_cast<std::size_t>(out * in), 0.0f);
  for (std::int64_t i = 0; i < out; ++i) {
    const std::int64_t start = i * in / out, end = ((i + 1) * in + out - 1) / out;
    for (std::int64_t j = start; j < end; ++j) m[static_cast<std::size_t>(i * in + j)] = 1.0f / float(end - start);
  }
  return m;
}

std::vector<float> transposed(const std::vector<float>& m, std::int64_t rows, std::int64_t cols) {
  std::vector<float> t(m.size());
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c)
      t[static_cast<std::size_t>(c * rows + r)] = m[static_cast<std::size_t>(r * cols + c)];
  return t;
}

}  // namespace

std::string child_path(const std::string& path, const std::string& name) {
  return path.empty() ? name : path + "." + name;
}

Tensor own_parameter(nn::Module& module, const std::string& name) {
  for (const auto& [key, tensor] : module.named_parameters())
    if (key == name) return tensor;
  return {};
}

Value emit(nn::Module& module, const std::string& path, const Value& input, OnnxGraph& graph) {
  const auto it = emitters().find(module.type_name());
  if (it == emitters().end()) {
    std::string known;
    for (const auto& [type, emitter] : emitters()) known += (known.empty() ? "" : ", ") + type;
    throw Error("ONNX export: no emitter for module '" + (path.empty() ? "(the model)" : path) + "' of type " +
                module.type_name() + " (export/emitters.h knows " + known + ")");
  }
  return it->second(module, path, input, graph);
}

Value emit_child(nn::Module& parent, const std::string& path, const std::string& name, const Value& input,
                 OnnxGraph& graph) {
  nn::Module* child = parent.child(name);
  EDAT_CHECK(child != nullptr,
             "ONNX export: " << parent.type_name() << " '" << path << "' has no child '" << name << "'");
  return emit(*child, child_path(path, name), input, graph);
}

// A global pool is ONNX's GlobalAveragePool; other sizes are linear maps of each axis, rows (out_h, H) and columns
// (W, out_w): y = rows x cols, as two MatMuls (numpy broadcasting over N and C). An output of the input's size is the
// input itself (VGG at 224 px).
Value adaptive_average_pool(OnnxGraph& graph, const std::string& name, const Value& x, std::int64_t out_h,
                            std::int64_t out_w) {
  EDAT_CHECK(x.shape.size() == 4, "ONNX export: " << name << " pools a 4-D input, got rank " << x.shape.size());
  const std::int64_t h = x.shape[2], w = x.shape[3];
  const std::vector<std::int64_t> shape = {x.shape[0], x.shape[1], out_h, out_w};
  if (out_h == 1 && out_w == 1) return {graph.node("GlobalAveragePool", {x.name}, name), shape};
  if (out_h == h && out_w == w) return x;
  const std::string cols =
      graph.initializer(name + ".cols", transposed(pooling_matrix(w, out_w), out_w, w), {w, out_w});
  const std::string rows = graph.initializer(name + ".rows", pooling_matrix(h, out_h), {out_h, h});
  const std::string by_cols = graph.node("MatMul", {x.name, cols}, name + ".cols_pooled");
  return {graph.node("MatMul", {rows, by_cols}, name), shape};
}

Value flatten(OnnxGraph& graph, const std::string& name, const Value& x) {
  std::int64_t features = 1;
  for (std::size_t d = 1; d < x.shape.size(); ++d) features *= x.shape[d];
  return {graph.node("Flatten", {x.name}, name, {attribute("axis", 1)}), {x.shape[0], features}};
}

Value add(OnnxGraph& graph, const std::string& name, const Value& a, const Value& b) {
  EDAT_CHECK(a.shape == b.shape, "ONNX export: " << name << " adds values of different shapes");
  return {graph.node("Add", {a.name, b.name}, name), a.shape};
}

}  // namespace edat::onnx_export
