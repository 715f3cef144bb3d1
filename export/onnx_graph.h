// OnnxGraph: what the emitters (export/emitters.h) write an ONNX graph with. It adds nodes and initializers to an
// onnx::GraphProto (the ONNX project's own protobuf classes, Debian's libonnx-dev), naming values after edat's
// module tree ("layer1.0.conv1", initializers "layer1.0.conv1.weight" as in the state dict), so an exported graph
// reads like the network's printout. Every value carries its static shape (Value), computed by the emitters with
// edat's own size rules; check_onnx_model (export/onnx_export.h) then has ONNX's shape inference confirm them.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace edat::onnx_export {

// The batch dim of a Value's shape: the graph input's dynamic dim "batch".
inline constexpr std::int64_t kBatch = -1;

// A value of the graph: its name and shape (dims, kBatch for the batch).
struct Value {
  std::string name;
  std::vector<std::int64_t> shape;
};

onnx::AttributeProto attribute(const std::string& name, std::int64_t value);
onnx::AttributeProto attribute(const std::string& name, const std::vector<std::int64_t>& values);

class OnnxGraph {
 public:
  explicit OnnxGraph(onnx::GraphProto& graph) : graph_(graph) {}

  // The graph's f32 input and outputs, with their shapes (kBatch: the dynamic dim "batch") and descriptions.
  Value input(const std::string& name, const std::vector<std::int64_t>& shape, const std::string& doc);
  void output(const Value& value, const std::string& doc);

  // An f32 initializer called `name` (a state-dict name) holding `tensor`'s values (any float dtype, CPU).
  std::string initializer(const std::string& name, const Tensor& tensor);
  std::string initializer(const std::string& name, const std::vector<float>& values,
                          const std::vector<std::int64_t>& dims);
  // A 1-D i64 initializer (the axes of Squeeze and ReduceSum).
  std::string i64_initializer(const std::string& name, const std::vector<std::int64_t>& values);
  // An f32 scalar initializer, one per value however many nodes use it (ReLU6's bounds, CORAL's 0.5).
  std::string scalar(float value);

  // A node `op` on `inputs` (an empty name: an optional input left out), whose one output is called `output`, or
  // `output` + "/2", "/3" ... when a node already took that name (a ReLU module that a block calls twice). Returns
  // the output's name; the node has the same name.
  std::string node(const std::string& op, const std::vector<std::string>& inputs, const std::string& output,
                   const std::vector<onnx::AttributeProto>& attributes = {});

 private:
  std::string unique(const std::string& name);

  onnx::GraphProto& graph_;
  std::set<std::string> names_;
  std::map<float, std::string> scalars_;
};

}  // namespace edat::onnx_export
