// The per-element update rules of SGD and Adam/AdamW, shared by the CPU kernels (optim/cpu/) and the fused CUDA
// kernel (optim/cuda/), so that both devices evaluate the very same expressions. Each follows PyTorch 1.13's
// torch.optim single-tensor code operation by operation (the scalars computed in double, then rounded to the element
// type once, as PyTorch does when it hands a Python float to a tensor op). Being one short function per rule, this
// file is also the optimizers' readable reference, as layers/reference/ is the layers' (docs/learn/05-training-step.md
// checks Adam's rearranged update against the textbook one).
#pragma once

#include <cmath>
#include <cstdint>

#include "tensor/host_device.h"

namespace edat::optim {

// sqrt in the element type on both sides (sqrtf for f32 in CUDA code, std::sqrt's float overload on the host).
template <class T>
EDAT_HOST_DEVICE inline T square_root(T x) {
#ifdef __CUDA_ARCH__
  return sqrt(x);
#else
  return std::sqrt(x);
#endif
}

EDAT_HOST_DEVICE inline double power(double x, double y) {
#ifdef __CUDA_ARCH__
  return ::pow(x, y);
#else
  return std::pow(x, y);
#endif
}

// ---- hyper-parameters of one step, as given to the kernels ----
struct SgdHyper {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};
struct AdamHyper {
  double lr = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled = false;  // AdamW: p *= 1 - lr wd before the update, instead of g += wd p
};

// ---- SGD ----
// d = g + wd p;  buf = d at the first step, else mu buf + (1 - dampening) d;  d = nesterov ? d + mu buf : buf;
// p = p - lr d.  Without momentum (mu = 0) there is no buffer and d is used directly.
template <class T>
struct SgdScalars {
  T neg_lr, momentum, one_minus_dampening, weight_decay;
  bool has_momentum, nesterov, has_weight_decay;
};

template <class T>
EDAT_HOST_DEVICE inline SgdScalars<T> sgd_scalars(const SgdHyper& h) {
  return {static_cast<T>(-h.lr),
          static_cast<T>(h.momentum),
          static_cast<T>(1 - h.dampening),
          static_cast<T>(h.weight_decay),
          h.momentum != 0,
          h.nesterov,
          h.weight_decay != 0};
}

// `first`: this parameter's first update, when the buffer is initialised with d (PyTorch: torch.clone(d_p)).
template <class T>
EDAT_HOST_DEVICE inline void sgd_update(T& p, T g, T* buf, bool first, const SgdScalars<T>& s) {
  T d = g;
  if (s.has_weight_decay) d = d + s.weight_decay * p;  // d_p.add(param, alpha=weight_decay)
  if (s.has_momentum) {
    const T b = first ? d : *buf * s.momentum + s.one_minus_dampening * d;  // buf.mul_(mu).add_(d_p, alpha=1-damp)
    *buf = b;
    d = s.nesterov ? d + s.momentum * b : b;  // d_p.add(buf, alpha=momentum)
  }
  p = p + s.neg_lr * d;  // param.add_(d_p, alpha=-lr)
}

// ---- Adam / AdamW ----
// g += wd p (Adam) or p *= 1 - lr wd (AdamW);  m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g g;
// p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)      (eps after the square root)
template <class T>
struct AdamScalars {
  T beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_factor, neg_step_size, bias2_sqrt;
  bool decoupled, has_weight_decay;
};

// The scalars of step t (1 at a parameter's first update), in double exactly as PyTorch's Python code computes them.
template <class T>
EDAT_HOST_DEVICE inline AdamScalars<T> adam_scalars(const AdamHyper& h, std::int64_t t) {
  const double step = static_cast<double>(t);
  const double bias_correction1 = 1 - power(h.beta1, step);
  const double bias_correction2 = 1 - power(h.beta2, step);
  return {static_cast<T>(h.beta1),
          static_cast<T>(1 - h.beta1),
          static_cast<T>(h.beta2),
          static_cast<T>(1 - h.beta2),
          static_cast<T>(h.eps),
          static_cast<T>(h.weight_decay),
          static_cast<T>(1 - h.lr * h.weight_decay),
          static_cast<T>(-(h.lr / bias_correction1)),
          static_cast<T>(square_root(bias_correction2)),
          h.decoupled,
          h.weight_decay != 0};
}

template <class T>
EDAT_HOST_DEVICE inline void adam_update(T& p, T g, T& m, T& v, const AdamScalars<T>& s) {
  if (s.decoupled) {
    p = p * s.decay_factor;  // param.mul_(1 - lr * weight_decay)
  } else if (s.has_weight_decay) {
    g = g + s.weight_decay * p;  // grad.add(param, alpha=weight_decay)
  }
  m = m * s.beta1 + s.one_minus_beta1 * g;      // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
  v = v * s.beta2 + s.one_minus_beta2 * g * g;  // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
  const T denom = square_root(v) / s.bias2_sqrt + s.eps;  // (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
  p = p + s.neg_step_size * m / denom;                    // param.addcdiv_(exp_avg, denom, value=-step_size)
}

}  // namespace edat::optim
