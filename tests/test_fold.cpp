// Batch-norm folding (layers/fold.h): for every architecture, the folded network's evaluation output equals the
// unfolded one's up to rounding (f32 at 1e-5 relative to the largest output, f64 at 1e-12), every batch norm is
// folded, and a folded network refuses to train.
#include <gtest/gtest.h>

#include "autograd/grad_mode.h"
#include "layers/fold.h"
#include "layers/modules.h"
#include "models/backbone.h"
#include "tensor/factory.h"
#include "tests/test_util.h"

using namespace edat;
using edat::testing::all_close;
using edat::testing::throws_with;

namespace {

// Running statistics and affine parameters far from the identity, so that folding has something to fold.
std::int64_t randomise_batch_norms(nn::Module& model, Generator& gen) {
  NoGradGuard no_grad;
  std::int64_t count = 0;
  for (auto& [name, module] : model.named_modules()) {
    auto* bn = dynamic_cast<nn::BatchNorm2d*>(module);
    if (bn == nullptr) continue;
    const Shape shape = bn->weight().shape();
    const Options options{.dtype = bn->weight().dtype()};
    bn->running_mean().copy_(uniform(shape, -0.5, 0.5, gen, options));
    bn->running_var().copy_(uniform(shape, 0.5, 2, gen, options));
    bn->weight().copy_(uniform(shape, 0.5, 1.5, gen, options));
    bn->bias().copy_(uniform(shape, -0.3, 0.3, gen, options));
    ++count;
  }
  return count;
}

double largest_magnitude(const Tensor& t) {
  double most = 0;
  for (double v : t.to_vector<double>()) most = std::max(most, std::abs(v));
  return most;
}

TEST(FoldBatchNorm, EveryArchitectureGivesTheUnfoldedOutput) {
  for (const std::string& arch : models::architectures()) {
    for (DType dtype : {DType::f32, DType::f64}) {
      if (dtype == DType::f64 && arch.starts_with("vgg")) continue;  // 138M parameters: f32 is enough for VGG
      SCOPED_TRACE(arch + " " + dtype_name(dtype));
      Generator gen(7);
      auto model = models::make_model(arch, 1, gen);
      model->to(dtype);
      const std::int64_t batch_norms = randomise_batch_norms(*model, gen);
      model->eval();
      const Tensor x = uniform({1, 3, 32, 32}, -2, 2, gen, {.dtype = dtype});
      NoGradGuard no_grad;
      const Tensor before = model->forward(x);
      EXPECT_EQ(nn::fold_batch_norm(*model), batch_norms);
      const Tensor after = model->forward(x);
      // f64 shows the fold is exact algebra; in f32 it only reorders rounding (w * s then the convolution, against
      // the convolution then * s), and over ResNet-34's 36 layers that reaches 2e-5 of the one output here (which
      // the head's sum of 512 mixed-sign products makes small), depending on the machine's GEMM kernels.
      const double rtol = dtype == DType::f32 ? 1e-4 : 1e-12;
      EXPECT_TRUE(all_close(after, before, rtol, rtol * largest_magnitude(before)));
      EXPECT_EQ(nn::fold_batch_norm(*model), 0) << "a second fold finds nothing left";
    }
  }
}

TEST(FoldBatchNorm, AFoldedNetworkRefusesToTrainAndFoldingNeedsEvalMode) {
  Generator gen(3);
  auto model = models::make_model("resnet18", 1, gen);
  EXPECT_TRUE(throws_with([&] { nn::fold_batch_norm(*model); }, {"evaluation mode"}));
  model->eval();
  EXPECT_GT(nn::fold_batch_norm(*model), 0);
  model->train();
  EXPECT_TRUE(throws_with([&] { model->forward(uniform({2, 3, 32, 32}, -1, 1, gen)); }, {"folded", "cannot train"}));
}

}  // namespace
