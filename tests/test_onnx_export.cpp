// ONNX export (export/onnx_export.h): every architecture with both heads gives a model that ONNX's own checker
// accepts and whose output shapes ONNX's shape inference finds as declared; the graph holds what the network holds
// (a Conv per convolution, depthwise groups, no batch norm left, the state dict's names); and every way export can
// go wrong is an edat::Error saying so. The numbers are checked against onnxruntime by tests/onnxruntime_test.py.
#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "export/onnx_export.h"
#include "layers/fold.h"
#include "layers/modules.h"
#include "models/backbone.h"
#include "tests/test_util.h"

using namespace edat;
using edat::testing::throws_with;

namespace {

// A network as load_age_model gives it (evaluation mode, batch norms folded), with seeded weights.
train::AgeModel age_model(const std::string& arch, const std::string& loss, std::int64_t img_size = 32) {
  train::ModelDescription d;
  d.arch = arch;
  d.loss = loss;
  d.img_size = img_size;
  d.resize = img_size * 8 / 7;
  d.max_age = 70;
  if (loss == "coral") d.coral_min_age = 16, d.coral_classes = 50;
  Generator generator(5);
  train::AgeModel model{.description = d, .model = train::build_model(d, generator), .warnings = {}};
  model.model->eval();
  nn::fold_batch_norm(*model.model);
  return model;
}

std::string shape_of(const onnx::ValueInfoProto& value) {
  std::string text;
  for (const auto& dim : value.type().tensor_type().shape().dim())
    text += (text.empty() ? "" : ",") + (dim.has_dim_param() ? dim.dim_param() : std::to_string(dim.dim_value()));
  return text;
}

std::map<std::string, std::int64_t> op_counts(const onnx::GraphProto& graph) {
  std::map<std::string, std::int64_t> counts;
  for (const onnx::NodeProto& node : graph.node()) ++counts[node.op_type()];
  return counts;
}

std::int64_t modules_of_type(nn::Module& model, const std::string& type) {
  std::int64_t n = 0;
  for (auto& [name, module] : model.named_modules()) n += module->type_name() == type;
  return n;
}

bool has_initializer(const onnx::GraphProto& graph, const std::string& name) {
  return std::any_of(graph.initializer().begin(), graph.initializer().end(),
                     [&](const onnx::TensorProto& t) { return t.name() == name; });
}

std::string metadata(const onnx::ModelProto& model, const std::string& key) {
  for (const auto& entry : model.metadata_props())
    if (entry.key() == key) return entry.value();
  return "(absent)";
}

TEST(OnnxExport, EveryArchitectureWithEitherHeadPassesTheCheckerAndShapeInference) {
  for (const std::string& arch : models::architectures()) {
    for (const std::string loss : {"l1", "coral"}) {
      SCOPED_TRACE(arch + " " + loss);
      const train::AgeModel model = age_model(arch, loss);
      const onnx::ModelProto proto = onnx_export::export_age_model(model, 17);
      EXPECT_NO_THROW(onnx_export::check_onnx_model(proto));
      const onnx::GraphProto& graph = proto.graph();
      ASSERT_EQ(graph.input_size(), 1);
      EXPECT_EQ(graph.input(0).name(), "image");
      EXPECT_EQ(shape_of(graph.input(0)), "batch,3,32,32");
      ASSERT_EQ(graph.output_size(), 2);
      EXPECT_EQ(graph.output(0).name(), "output");
      EXPECT_EQ(shape_of(graph.output(0)), loss == "coral" ? "batch,49" : "batch,1");
      EXPECT_EQ(graph.output(1).name(), "age");
      EXPECT_EQ(shape_of(graph.output(1)), "batch");

      const std::map<std::string, std::int64_t> ops = op_counts(graph);
      EXPECT_EQ(ops.count("Conv") ? ops.at("Conv") : 0, modules_of_type(*model.model, "Conv2d"));
      EXPECT_EQ(ops.count("BatchNormalization"), 0u) << "folded into the convolutions";
      EXPECT_EQ(ops.count("Dropout"), 0u) << "the identity in evaluation mode";
      const std::string head = model.model->head_name();
      EXPECT_TRUE(has_initializer(graph, head + ".weight")) << head << ".weight: the state dict's names";
      EXPECT_EQ(metadata(proto, "edat.arch"), arch);
      EXPECT_EQ(metadata(proto, "input_size"), "32");
    }
  }
}

// MobileNetV2's depthwise convolutions carry their group count; its residual blocks add their input.
TEST(OnnxExport, DepthwiseConvolutionsKeepTheirGroupsAndResidualsTheirAdds) {
  const train::AgeModel model = age_model("mobilenet_v2", "l1");
  const onnx::ModelProto proto = onnx_export::export_age_model(model);
  std::int64_t depthwise = 0;
  for (const onnx::NodeProto& node : proto.graph().node()) {
    if (node.op_type() != "Conv") continue;
    for (const onnx::AttributeProto& a : node.attribute())
      if (a.name() == "group" && a.i() > 1) ++depthwise;
  }
  EXPECT_EQ(depthwise, 17) << "one depthwise convolution per inverted residual block";
  EXPECT_EQ(op_counts(proto.graph()).at("Add"), 10) << "blocks with stride 1 and as many channels out as in";
  EXPECT_EQ(op_counts(proto.graph()).at("Clip"), 35 + 1) << "ReLU6 x 35, and the age's clamp";
}

// The ages' graph: a regression output clamped into [0, max_age] (no upper bound unrecorded), CORAL's count.
TEST(OnnxExport, TheAgeOutputClampsRegressionAndCountsCoralLevels) {
  const onnx::ModelProto regression = onnx_export::export_age_model(age_model("resnet18", "l1"));
  EXPECT_EQ(metadata(regression, "age_range"), "0,70");
  train::AgeModel unbounded = age_model("resnet18", "l1");
  unbounded.description.max_age = 0;
  const onnx::ModelProto open_ended = onnx_export::export_age_model(unbounded);
  EXPECT_EQ(metadata(open_ended, "age_range"), "0,inf");
  EXPECT_EQ(open_ended.graph().node(open_ended.graph().node_size() - 1).input(2), "") << "Clip without a maximum";
  EXPECT_NO_THROW(onnx_export::check_onnx_model(open_ended));
  const std::map<std::string, std::int64_t> coral =
      op_counts(onnx_export::export_age_model(age_model("resnet18", "coral")).graph());
  for (const char* op : {"Sigmoid", "Greater", "Cast", "ReduceSum"}) EXPECT_EQ(coral.count(op), 1u) << op;
}

// VGG's 7 x 7 average pool of a smaller map is two MatMuls with the pooling matrices; of a 7 x 7 map, nothing.
TEST(OnnxExport, AdaptivePoolingIsExactMatricesOrNothing) {
  EXPECT_EQ(op_counts(onnx_export::export_age_model(age_model("vgg16", "l1", 64)).graph()).at("MatMul"), 2);
  EXPECT_EQ(op_counts(onnx_export::export_age_model(age_model("vgg16", "l1", 224)).graph()).count("MatMul"), 0u);
}

TEST(OnnxExport, EveryOpsetInTheRangeAndNoOther) {
  const train::AgeModel model = age_model("resnet18", "coral");
  for (std::int64_t opset = onnx_export::kMinOpset; opset <= onnx_export::max_opset(); ++opset) {
    SCOPED_TRACE(opset);
    EXPECT_NO_THROW(onnx_export::check_onnx_model(onnx_export::export_age_model(model, opset)));
  }
  for (std::int64_t opset : {std::int64_t{12}, onnx_export::max_opset() + 1})
    EXPECT_TRUE(throws_with([&] { onnx_export::export_age_model(model, opset); },
                            {"opset " + std::to_string(opset), "13 to " + std::to_string(onnx_export::max_opset())}));
}

// Only what edat infers with can be exported: folded batch norms, evaluation mode, modules with an emitter.
TEST(OnnxExport, ModelsThatAreNotInferenceReadyAreRefused) {
  train::ModelDescription d;
  d.arch = "resnet18", d.img_size = 32;
  Generator generator(1);
  train::AgeModel unfolded{.description = d, .model = train::build_model(d, generator), .warnings = {}};
  unfolded.model->eval();
  EXPECT_TRUE(throws_with([&] { onnx_export::export_age_model(unfolded); }, {"batch norm 'bn1'", "not folded"}));
  unfolded.model->train();
  EXPECT_TRUE(throws_with([&] { onnx_export::export_age_model(unfolded); }, {"training mode"}));

  struct Mystery : nn::Module {
    Mystery() : nn::Module("Mystery") {}
    Tensor forward(const Tensor& x) override { return x; }
  };
  train::AgeModel odd = age_model("resnet18", "l1");
  odd.model->set_head(std::make_shared<Mystery>());
  odd.model->eval();
  EXPECT_TRUE(throws_with([&] { onnx_export::export_age_model(odd); }, {"no emitter for module 'fc'", "Mystery"}));
}

// check_onnx_model can fail: a model the checker rejects, and a declared shape that inference contradicts.
TEST(OnnxExport, TheChecksRejectBrokenModels) {
  const onnx::ModelProto good = onnx_export::export_age_model(age_model("resnet18", "l1"));
  onnx::ModelProto missing_weight = good;
  missing_weight.mutable_graph()->mutable_initializer()->DeleteSubrange(0, 1);
  EXPECT_TRUE(throws_with([&] { onnx_export::check_onnx_model(missing_weight); }, {"ONNX checker rejects"}));
  onnx::ModelProto wrong_shape = good;
  wrong_shape.mutable_graph()
      ->mutable_output(0)
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(1)
      ->set_dim_value(2);
  EXPECT_TRUE(throws_with([&] { onnx_export::check_onnx_model(wrong_shape); },
                          {"output output the shape [batch, 1]", "declares [batch, 2]"}));
}

TEST(OnnxExport, SavedFilesReadBackAndUnwritablePathsAreErrors) {
  const onnx::ModelProto model = onnx_export::export_age_model(age_model("mobilenet_v2", "coral"));
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "edat_test_onnx_export";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "model.onnx").string();
  onnx_export::save_onnx_model(model, path);
  EXPECT_NO_THROW(onnx::checker::check_model(path)) << "ONNX's checker on the file";
  onnx::ModelProto read;
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(read.ParseFromIstream(&in));
  EXPECT_EQ(read.SerializeAsString(), model.SerializeAsString());
  const std::string unwritable = (dir / "no_such_folder" / "model.onnx").string();
  EXPECT_TRUE(throws_with([&] { onnx_export::save_onnx_model(model, unwritable); }, {"cannot write " + unwritable}));
  std::filesystem::remove_all(dir);
}

}  // namespace
