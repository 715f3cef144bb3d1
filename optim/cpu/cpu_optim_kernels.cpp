#include "optim/cpu/cpu_optim_kernels.h"

#include <algorithm>
#include <cmath>

#include "tensor/cpu/cpu_backend.h"

namespace edat::optim::cpu_impl {

using edat::cpu_impl::dispatch_floating;
using edat::cpu_impl::kParallelGrain;

namespace {

template <class T>
T* ptr(const Tensor& t) {
  return t.data<T>();
}

class CpuOptimKernels final : public OptimKernels {
 public:
  void sgd_step(const TensorLists& lists, const SgdHyper& hyper) override {
    if (lists.params.empty()) return;
    dispatch_floating(lists.params[0].dtype(), "sgd step", [&](auto tag) {
      using T = decltype(tag);
      const SgdScalars<T> s = sgd_scalars<T>(hyper);
      for (std::size_t k = 0; k < lists.params.size(); ++k) {
        T* __restrict p = ptr<T>(lists.params[k]);
        const T* __restrict g = ptr<T>(lists.grads[k]);
        T* __restrict buf = s.has_momentum ? ptr<T>(lists.m[k]) : nullptr;
        const bool first = lists.steps[k] == 1;
        const std::int64_t n = lists.params[k].numel();
        // firstprivate: each thread's own copy of the scalars, which the tensors' stores cannot alias (shared, they
        // would be reloaded after every store and the loop would not vectorise).
#pragma omp parallel for schedule(static) firstprivate(s) if (n > kParallelGrain)
        for (std::int64_t i = 0; i < n; ++i) sgd_update(p[i], g[i], buf ? buf + i : nullptr, first, s);
      }
    });
  }

  void adam_step(const TensorLists& lists, const AdamHyper& hyper) override {
    if (lists.params.empty()) return;
    dispatch_floating(lists.params[0].dtype(), "adam step", [&](auto tag) {
      using T = decltype(tag);
      for (std::size_t k = 0; k < lists.params.size(); ++k) {
        const AdamScalars<T> s = adam_scalars<T>(hyper, lists.steps[k]);
        T* __restrict p = ptr<T>(lists.params[k]);
        const T* __restrict g = ptr<T>(lists.grads[k]);
        T* __restrict m = ptr<T>(lists.m[k]);
        T* __restrict v = ptr<T>(lists.v[k]);
        const std::int64_t n = lists.params[k].numel();
#pragma omp parallel for schedule(static) firstprivate(s) if (n > kParallelGrain)  // firstprivate: as in sgd_step
        for (std::int64_t i = 0; i < n; ++i) adam_update(p[i], g[i], m[i], v[i], s);
      }
    });
  }

  void sum_of_squares(const std::vector<Tensor>& tensors, Tensor& total) override {
    double sum = 0;
    for (const Tensor& t : tensors) {
      dispatch_floating(t.dtype(), "sum of squares", [&](auto tag) {
        using T = decltype(tag);
        const T* x = ptr<T>(t);
        const std::int64_t n = t.numel();
        double partial = 0;
#pragma omp parallel for schedule(static) reduction(+ : partial) if (n > kParallelGrain)
        for (std::int64_t i = 0; i < n; ++i) partial += static_cast<double>(x[i]) * static_cast<double>(x[i]);
        sum += partial;
      });
    }
    *total.data<double>() = sum;
  }

  void scale_by_norm(const std::vector<Tensor>& tensors, const Tensor& total, double max_norm) override {
    const double ratio = max_norm / (std::sqrt(*total.data<double>()) + 1e-6);
    const double coef = ratio > 1.0 ? 1.0 : ratio;  // min(ratio, 1), NaN staying NaN as with PyTorch's clamp
    for (const Tensor& t : tensors) {
      dispatch_floating(t.dtype(), "clip_grad_norm", [&](auto tag) {
        using T = decltype(tag);
        T* x = ptr<T>(t);
        const T c = static_cast<T>(coef);
        const std::int64_t n = t.numel();
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
        for (std::int64_t i = 0; i < n; ++i) x[i] = x[i] * c;
      });
    }
  }
};

}  // namespace

OptimKernels& cpu_optim_kernels() {
  static CpuOptimKernels kernels;
  return kernels;
}

}  // namespace edat::optim::cpu_impl
