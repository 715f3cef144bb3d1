#include "export/onnx_graph.h"

#include <cstdio>

#include "tensor/error.h"

namespace edat::onnx_export {

onnx::AttributeProto attribute(const std::string& name, std::int64_t value) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INT);
  a.set_i(value);
  return a;
}

onnx::AttributeProto attribute(const std::string& name, const std::vector<std::int64_t>& values) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INTS);
  for (std::int64_t v : values) a.add_ints(v);
  return a;
}

namespace {

void describe(onnx::ValueInfoProto& info, const Value& value, const std::string& doc) {
  info.set_name(value.name);
  info.set_doc_string(doc);
  onnx::TypeProto::Tensor& type = *info.mutable_type()->mutable_tensor_type();
  type.set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto& shape = *type.mutable_shape();
  for (std::int64_t d : value.shape) {
    if (d == kBatch) {
      shape.add_dim()->set_dim_param("batch");
    } else {
      shape.add_dim()->set_dim_value(d);
    }
  }
}

}  // namespace

Value OnnxGraph::input(const std::string& name, const std::vector<std::int64_t>& shape, const std::string& doc) {
  const Value value{unique(name), shape};
  describe(*graph_.add_input(), value, doc);
  return value;
}

void OnnxGraph::output(const Value& value, const std::string& doc) { describe(*graph_.add_output(), value, doc); }

std::string OnnxGraph::unique(const std::string& name) {
  std::string candidate = name;
  for (int k = 2; names_.contains(candidate); ++k) candidate = name + "/" + std::to_string(k);
  names_.insert(candidate);
  return candidate;
}

std::string OnnxGraph::initializer(const std::string& name, const Tensor& tensor) {
  EDAT_CHECK(tensor.defined(), "ONNX export: the tensor " << name << " is undefined");
  const Tensor values = tensor.to(DType::f32).cpu();
  onnx::TensorProto& t = *graph_.add_initializer();
  t.set_name(unique(name));
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (std::int64_t d : values.shape()) t.add_dims(d);
  // Little-endian f32, as ONNX's raw_data is defined (every machine edat builds on is little-endian).
  t.set_raw_data(values.raw_data(), values.nbytes());
  return t.name();
}

std::string OnnxGraph::initializer(const std::string& name, const std::vector<float>& values,
                                   const std::vector<std::int64_t>& dims) {
  onnx::TensorProto& t = *graph_.add_initializer();
  t.set_name(unique(name));
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (std::int64_t d : dims) t.add_dims(d);
  for (float v : values) t.add_float_data(v);
  return t.name();
}

std::string OnnxGraph::i64_initializer(const std::string& name, const std::vector<std::int64_t>& values) {
  onnx::TensorProto& t = *graph_.add_initializer();
  t.set_name(unique(name));
  t.set_data_type(onnx::TensorProto::INT64);
  t.add_dims(static_cast<std::int64_t>(values.size()));
  for (std::int64_t v : values) t.add_int64_data(v);
  return t.name();
}

std::string OnnxGraph::scalar(float value) {
  auto it = scalars_.find(value);
  if (it != scalars_.end()) return it->second;
  char name[48];
  std::snprintf(name, sizeof name, "constant.%g", value);
  const std::string made = initializer(name, {value}, {});
  scalars_.emplace(value, made);
  return made;
}

std::string OnnxGraph::node(const std::string& op, const std::vector<std::string>& inputs, const std::string& output,
                            const std::vector<onnx::AttributeProto>& attributes) {
  onnx::NodeProto& n = *graph_.add_node();
  n.set_op_type(op);
  n.set_name(unique(output));
  for (const std::string& input : inputs) n.add_input(input);
  n.add_output(n.name());
  for (const onnx::AttributeProto& a : attributes) *n.add_attribute() = a;
  return n.name();
}

}  // namespace edat::onnx_export
