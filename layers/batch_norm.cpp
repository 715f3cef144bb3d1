// Batch normalisation over (N, H, W) per channel. Training mode runs the kernels (batch statistics, running
// statistics updated in place) and records the backward; evaluation mode is an affine map per channel built from
// existing ops, so autograd differentiates it without a kernel of its own.
#include <algorithm>

#include "autograd/ops/common.h"
#include "layers/functional.h"
#include "layers/kernels.h"

namespace edat::nn {
using namespace ops_detail;

namespace {

CrossProcessSum& batch_norm_sync() {
  static CrossProcessSum sum;
  return sum;
}

// Training-mode batch norm over the batches of all processes, from differentiable ops: the mean and the biased
// variance of every process's values (the count and two sums across processes, two more in backward), then the
// running statistics updated as the kernel does, with the global count.
Tensor synchronised_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                               const Tensor& running_var, double momentum, double eps, const CrossProcessSum& across) {
  std::vector<std::int64_t> dims{0};
  for (std::int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  Shape per_channel(static_cast<std::size_t>(x.dim()), 1);
  per_channel[1] = x.size(1);
  const Options options{.dtype = x.dtype(), .device = x.device()};
  const double count = across(full({1}, static_cast<double>(x.numel() / x.size(1)), options)).item();
  EDAT_CHECK(count > 1, "batch_norm: training needs more than one value per channel over all processes, got "
                            << count << " (input here " << x.desc() << ")");
  const Tensor mean = across(sum(x, dims)) / count;
  const Tensor centred = x - reshape(mean, per_channel);
  const Tensor var = across(sum(centred * centred, dims)) / count;
  Tensor scale = 1.0 / sqrt(var + eps);
  if (weight.defined()) scale = weight * scale;
  Tensor y = centred * reshape(scale, per_channel);
  if (bias.defined()) y = y + reshape(bias, per_channel);
  NoGradGuard no_grad;
  if (running_mean.defined()) running_mean.copy_(running_mean * (1 - momentum) + mean.detach() * momentum);
  if (running_var.defined())
    running_var.copy_(running_var * (1 - momentum) + var.detach() * (momentum * count / (count - 1)));
  return y;
}

}  // namespace

void set_batch_norm_sync(CrossProcessSum sum_across_processes) { batch_norm_sync() = std::move(sum_across_processes); }

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps) {
  check_floating("batch_norm", x);
  EDAT_CHECK(x.dim() >= 2, "batch_norm: expects an input (N, C, ...) such as (N, C, H, W), got " << x.desc());
  EDAT_CHECK(eps >= 0, "batch_norm: eps must be non-negative, got " << eps);
  const std::int64_t N = x.size(0), C = x.size(1);
  const char* names[] = {"weight", "bias", "running_mean", "running_var"};
  const Tensor* vectors[] = {&weight, &bias, &running_mean, &running_var};
  for (int i = 0; i < 4; ++i) {
    const Tensor& t = *vectors[i];
    if (!t.defined()) continue;
    check_pair("batch_norm", x, t);
    EDAT_CHECK(t.dim() == 1 && t.size(0) == C, "batch_norm: " << names[i] << " " << t.desc()
                                                              << " must hold one value per channel of input "
                                                              << x.desc() << " (" << C << ")");
  }

  if (!training) {
    // y = x scale + shift per channel, scale = weight / sqrt(running_var + eps), shift = bias - running_mean scale.
    EDAT_CHECK(running_mean.defined() && running_var.defined(),
               "batch_norm: evaluation mode needs running_mean and running_var (input " << x.desc() << ")");
    Tensor scale = 1.0 / sqrt(running_var + eps);
    if (weight.defined()) scale = weight * scale;
    Tensor shift = neg(running_mean * scale);
    if (bias.defined()) shift = bias + shift;
    Shape per_channel(static_cast<std::size_t>(x.dim()), 1);
    per_channel[1] = C;
    return x * reshape(scale, per_channel) + reshape(shift, per_channel);
  }

  if (batch_norm_sync()) return synchronised_batch_norm(x, weight, bias, running_mean, running_var, momentum, eps,
                                                       batch_norm_sync());
  const std::int64_t spatial = x.numel() / std::max<std::int64_t>(N * C, 1);
  EDAT_CHECK(N * spatial > 1, "batch_norm: training needs more than one value per channel, got input " << x.desc());
  const Options options{.dtype = x.dtype(), .device = x.device()};
  // The kernels see (N, C, H W, 1) and always an affine map and running statistics: ones / zeros stand in.
  const Tensor x4 = x.untracked_view({N, C, spatial, 1});
  const Tensor w = weight.defined() ? weight.detach() : ones({C}, options);
  const Tensor b = bias.defined() ? bias.detach() : zeros({C}, options);
  Tensor mean_running = running_mean.defined() ? running_mean : zeros({C}, options);
  Tensor var_running = running_var.defined() ? running_var : ones({C}, options);
  Tensor y = new_like(x, x4.shape());
  Tensor save_mean = new_like(x, {C}), save_invstd = new_like(x, {C});
  layer_kernels(x.device())
      .batch_norm_forward_train(x4, w, b, y, mean_running, var_running, save_mean, save_invstd, momentum, eps);

  // The backward: mean and invstd depend on x too (layers/reference/batch_norm_reference.cpp states the formula,
  // docs/learn/03-batch-norm.md derives it).
  return record("batch_norm", y.untracked_view(x.shape()), {x, weight, bias},
                [x4, w, save_mean, save_invstd, eps](const Tensor& g, const std::vector<bool>& needs) {
                  Tensor gx = new_like(g, x4.shape()), gw = new_like(g, w.shape()), gb = new_like(g, w.shape());
                  layer_kernels(g.device())
                      .batch_norm_backward_train(g.untracked_view(x4.shape()), x4, w, save_mean, save_invstd, gx, gw,
                                                 gb, eps);
                  return Grads{needs[0] ? gx.untracked_view(g.shape()) : Tensor(), needs[1] ? gw : Tensor(),
                               needs[2] ? gb : Tensor()};
                });
}

}  // namespace edat::nn
