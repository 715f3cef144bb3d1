// Tensor: a handle to shared, reference-counted data with a shape, a dtype and a device.
//
// Layout is always contiguous row-major (NCHW for images); reshape and flatten are views that share storage.
// Copying a Tensor copies the handle (like PyTorch): both names see the same data, grad and autograd history.
// The differentiable operations (add, matmul, sum ...) are free functions in autograd/ops.h;
// this header holds the data itself plus the autograd fields every tensor carries.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace edat {

namespace autograd {
class Node;
}
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (no data), e.g. a gradient not yet computed
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int dim() const { return static_cast<int>(shape().size()); }
  std::int64_t size(std::int64_t dim) const;  // negative dims count from the end
  std::int64_t numel() const;
  DType dtype() const;
  Device device() const;
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * element_size(dtype()); }
  bool is_pinned() const;
  // "f32[2, 3] on cpu": names this tensor in error messages.
  std::string desc() const;

  // Raw element pointer. data<T>() checks that T matches the dtype.
  void* raw_data() const;
  template <class T> T* data() const {
    check_scalar_type(dtype_of<T>());
    return static_cast<T*>(raw_data());
  }

  // Copies to another device or dtype; returns this tensor itself when nothing changes.
  // Host -> device copies from pinned memory are asynchronous on the current CUDA stream.
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor cpu() const { return to(Device::cpu()); }
  Tensor cuda(int index = 0) const { return to(Device::cuda(index)); }
  Tensor pin_memory() const;  // a copy of a CPU tensor in page-locked memory (needs a CUDA build and driver)
  Tensor clone() const;       // a new tensor with its own copy of the data, not attached to the graph
  // Overwrites this tensor's elements with src's (same shape and dtype, any device); not recorded by autograd.
  void copy_(const Tensor& src) const;
  // A tensor sharing this one's storage with another shape of equal numel, NOT recorded by autograd: the result has
  // no grad_fn, so no gradient flows back through it (the name says so; PyTorch's view is differentiable). Use
  // edat::reshape (autograd/ops.h) in anything that must be differentiated; this is for kernels, backward
  // functions and data that needs no gradient. One dim may be -1.
  Tensor untracked_view(const Shape& shape) const;

  // Element access for tests and printing (copies from the device when needed).
  double item() const;                                   // the only element of a 1-element tensor
  double at(std::initializer_list<std::int64_t> index) const;
  template <class T> std::vector<T> to_vector() const;  // all elements, converted to T

  // ---- autograd ----
  bool requires_grad() const;
  Tensor& set_requires_grad(bool requires_grad = true);  // only on leaves (tensors not produced by an op)
  bool is_leaf() const;
  Tensor grad() const;  // dLoss/dThis accumulated by backward(); undefined until then
  void set_grad(const Tensor& grad) const;
  void zero_grad() const { set_grad(Tensor()); }
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  Tensor detach() const;  // same storage, cut from the graph, requires_grad false
  // Back-propagates from this tensor: with no argument it must hold one element (the loss);
  // otherwise `grad` is dLoss/dThis with this tensor's shape. Defined in autograd/engine.cpp.
  void backward(const Tensor& grad = Tensor()) const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  void check_defined(const char* what) const;
  void check_scalar_type(DType requested) const;
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  std::size_t offset_bytes = 0;  // where this tensor's first element sits in storage
  Shape shape;
  DType dtype = DType::f32;

  // Autograd: a leaf with requires_grad accumulates into grad; a non-leaf points at the node that made it.
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<autograd::Node> grad_fn;
};

std::ostream& operator<<(std::ostream& out, const Tensor& tensor);

}  // namespace edat
