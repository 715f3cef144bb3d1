#include "tensor/tensor.h"

#include <cmath>
#include <iomanip>
#include <ostream>

#include "tensor/backend.h"
#include "tensor/factory.h"

namespace edat {

void Tensor::check_defined(const char* what) const {
  EDAT_CHECK(impl_ != nullptr, what << ": the tensor is undefined (it holds no data)");
}

void Tensor::check_scalar_type(DType requested) const {
  EDAT_CHECK(requested == dtype(), "data<" << dtype_name(requested) << ">() called on " << desc());
}

const Shape& Tensor::shape() const {
  check_defined("shape");
  return impl_->shape;
}

std::int64_t Tensor::size(std::int64_t dim) const { return shape()[wrap_dim(dim, shape().size(), "size")]; }

std::int64_t Tensor::numel() const { return edat::numel(shape()); }

DType Tensor::dtype() const {
  check_defined("dtype");
  return impl_->dtype;
}

Device Tensor::device() const {
  check_defined("device");
  return impl_->storage->device();
}

bool Tensor::is_pinned() const { return defined() && impl_->storage->pinned(); }

std::string Tensor::desc() const {
  if (!defined()) return "undefined tensor";
  return std::string(dtype_name(dtype())) + shape_str(shape()) + " on " + device().str();
}

void* Tensor::raw_data() const {
  check_defined("data");
  return static_cast<char*>(impl_->storage->data()) + impl_->offset_bytes;
}

Tensor Tensor::to(Device target) const {
  check_defined("to(device)");
  if (target == device()) return *this;
  Tensor out = empty(shape(), {.dtype = dtype(), .device = target});
  // The backend of the non-CPU side performs the copy (cuda:0 -> cuda:1 goes through the source's backend).
  backend(device().is_cpu() ? target : device()).copy(*this, out);
  return out;
}

Tensor Tensor::to(DType target) const {
  check_defined("to(dtype)");
  if (target == dtype()) return *this;
  Tensor out = empty(shape(), {.dtype = target, .device = device()});
  backend(device()).convert(*this, out);
  return out;
}

Tensor Tensor::pin_memory() const {
  EDAT_CHECK(device().is_cpu(), "pin_memory: " << desc() << " is not on the CPU");
  Tensor out = empty(shape(), {.dtype = dtype(), .device = Device::cpu(), .pinned = true});
  backend(Device::cpu()).copy(*this, out);
  return out;
}

Tensor Tensor::clone() const {
  check_defined("clone");
  Tensor out = empty(shape(), {.dtype = dtype(), .device = device()});
  backend(device()).copy(*this, out);
  return out;
}

void Tensor::copy_(const Tensor& src) const {
  check_defined("copy_");
  EDAT_CHECK(src.defined() && src.shape() == shape() && src.dtype() == dtype(),
             "copy_: cannot copy " << src.desc() << " into " << desc());
  Tensor dst = *this;
  backend(device().is_cpu() ? src.device() : device()).copy(src, dst);
}

Tensor Tensor::untracked_view(const Shape& new_shape) const {
  check_defined("view");
  Shape resolved = new_shape;
  int inferred = -1;
  std::int64_t known = 1;
  for (std::size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1) {
      EDAT_CHECK(inferred < 0, "view: more than one -1 in " << shape_str(new_shape));
      inferred = static_cast<int>(i);
    } else {
      EDAT_CHECK(resolved[i] >= 0, "view: negative size in " << shape_str(new_shape));
      known *= resolved[i];
    }
  }
  if (inferred >= 0) {
    EDAT_CHECK(known > 0 && numel() % known == 0,
               "view: cannot infer -1 in " << shape_str(new_shape) << " for " << desc());
    resolved[inferred] = numel() / known;
  }
  EDAT_CHECK(edat::numel(resolved) == numel(),
             "view: shape " << shape_str(new_shape) << " does not hold the " << numel() << " elements of " << desc());
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->offset_bytes = impl_->offset_bytes;
  impl->shape = std::move(resolved);
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

template <class T> std::vector<T> Tensor::to_vector() const {
  check_defined("to_vector");
  Tensor host = to(Device::cpu());
  std::vector<T> out(static_cast<std::size_t>(numel()));
  const void* p = host.raw_data();
  for (std::size_t i = 0; i < out.size(); ++i) {
    switch (dtype()) {
      case DType::f32: out[i] = static_cast<T>(static_cast<const float*>(p)[i]); break;
      case DType::f64: out[i] = static_cast<T>(static_cast<const double*>(p)[i]); break;
      case DType::bf16: out[i] = static_cast<T>(static_cast<const bf16*>(p)[i].to_float()); break;
      case DType::i64: out[i] = static_cast<T>(static_cast<const std::int64_t*>(p)[i]); break;
    }
  }
  return out;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<std::int64_t> Tensor::to_vector<std::int64_t>() const;

double Tensor::item() const {
  EDAT_CHECK(defined() && numel() == 1, "item: expected a tensor with one element, got " << desc());
  return to_vector<double>()[0];
}

double Tensor::at(std::initializer_list<std::int64_t> index) const {
  check_defined("at");
  EDAT_CHECK(index.size() == shape().size(),
             "at: " << index.size() << " indices given for " << desc());
  std::int64_t linear = 0;
  std::size_t d = 0;
  for (std::int64_t i : index) {
    EDAT_CHECK(i >= 0 && i < shape()[d], "at: index " << i << " out of range for dim " << d << " of " << desc());
    linear = linear * shape()[d] + i;
    ++d;
  }
  // One element: copy it alone rather than the whole tensor.
  Tensor element = untracked_view({numel()});
  auto impl = std::make_shared<TensorImpl>(*element.impl());
  impl->offset_bytes += static_cast<std::size_t>(linear) * element_size(dtype());
  impl->shape = {1};
  impl->grad_fn = nullptr;
  return Tensor(std::move(impl)).to_vector<double>()[0];
}

// ---- autograd fields (the engine itself is autograd/engine.cpp) ----

bool Tensor::requires_grad() const { return defined() && impl_->requires_grad; }

Tensor& Tensor::set_requires_grad(bool requires_grad) {
  check_defined("set_requires_grad");
  EDAT_CHECK(is_leaf(), "set_requires_grad: " << desc() << " was produced by an op; only leaves can change it "
                                                 "(use detach() to start a new leaf)");
  EDAT_CHECK(!requires_grad || is_floating(dtype()), "set_requires_grad: " << desc() << " is not floating point");
  impl_->requires_grad = requires_grad;
  return *this;
}

bool Tensor::is_leaf() const { return defined() && impl_->grad_fn == nullptr; }

Tensor Tensor::grad() const {
  check_defined("grad");
  return impl_->grad;
}

void Tensor::set_grad(const Tensor& grad) const {
  check_defined("set_grad");
  if (grad.defined()) {
    EDAT_CHECK(grad.shape() == shape() && grad.dtype() == dtype() && grad.device() == device(),
               "set_grad: gradient " << grad.desc() << " does not match " << desc());
  }
  impl_->grad = grad;
}

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  check_defined("grad_fn");
  return impl_->grad_fn;
}

Tensor Tensor::detach() const {
  check_defined("detach");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->offset_bytes = impl_->offset_bytes;
  impl->shape = impl_->shape;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

// ---- printing: tensor(f32[2, 3] on cpu, [[1, 2, 3], [4, 5, 6]]), at most 6 values per dim shown ----

namespace {
void print_values(std::ostream& out, const std::vector<double>& values, const Shape& shape, std::size_t dim,
                  std::int64_t offset) {
  if (shape.empty()) {
    out << values[0];
    return;
  }
  std::int64_t stride = 1;
  for (std::size_t d = dim + 1; d < shape.size(); ++d) stride *= shape[d];
  out << '[';
  const std::int64_t n = shape[dim];
  for (std::int64_t i = 0; i < n; ++i) {
    if (n > 6 && i == 3) {
      out << "..., ";
      i = n - 3;
    }
    if (dim + 1 == shape.size()) {
      out << values[static_cast<std::size_t>(offset + i)];
    } else {
      print_values(out, values, shape, dim + 1, offset + i * stride);
    }
    if (i + 1 < n) out << ", ";
  }
  out << ']';
}
}  // namespace

std::ostream& operator<<(std::ostream& out, const Tensor& tensor) {
  if (!tensor.defined()) return out << "tensor(undefined)";
  out << "tensor(" << tensor.desc();
  if (tensor.requires_grad()) out << ", requires_grad";
  out << ", ";
  const auto flags = out.flags();
  out << std::setprecision(6);
  print_values(out, tensor.to_vector<double>(), tensor.shape(), 0, 0);
  out.flags(flags);
  return out << ')';
}

}  // namespace edat
