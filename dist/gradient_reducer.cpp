#include "dist/gradient_reducer.h"

#include <chrono>

#include "autograd/ops/common.h"
#include "tensor/backend.h"
#include "tensor/error.h"
#include "tensor/factory.h"

namespace edat::dist {

namespace {

// A tensor of `shape` inside `flat`'s storage from element `offset` on: writing it writes the bucket.
Tensor slot_in(const Tensor& flat, std::size_t offset, const Shape& shape) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = flat.impl()->storage;
  impl->offset_bytes = flat.impl()->offset_bytes + offset * element_size(flat.dtype());
  impl->shape = shape;
  impl->dtype = flat.dtype();
  return Tensor(std::move(impl));
}

}  // namespace

GradientReducer::GradientReducer(Communicator& comm, std::vector<Tensor> parameters, std::size_t bucket_bytes)
    : comm_(comm), parameters_(std::move(parameters)) {
  place_.resize(parameters_.size());
  reported_.assign(parameters_.size(), false);
  // Reverse order; a bucket closes when full, or when the next parameter has another dtype or device.
  std::vector<std::vector<std::size_t>> groups;
  std::size_t bytes = 0;
  for (std::size_t k = parameters_.size(); k-- > 0;) {
    const Tensor& p = parameters_[k];
    EDAT_CHECK(p.dtype() == DType::f32 || p.dtype() == DType::f64,
               "GradientReducer: parameter " << k << " is " << p.desc() << "; only f32 and f64 are reduced");
    const bool fits = !groups.empty() && bytes + p.nbytes() <= bucket_bytes &&
                      parameters_[groups.back().front()].dtype() == p.dtype() &&
                      parameters_[groups.back().front()].device() == p.device();
    if (!fits) groups.emplace_back(), bytes = 0;
    groups.back().push_back(k);
    bytes += p.nbytes();
    index_[p.impl()] = k;
  }
  for (std::vector<std::size_t>& group : groups) {
    Bucket bucket;
    std::int64_t total = 0;
    for (std::size_t k : group) total += parameters_[k].numel();
    const Tensor& first = parameters_[group.front()];
    bucket.flat = zeros({total}, {.dtype = first.dtype(), .device = first.device()});
    std::size_t offset = 0;
    for (std::size_t k : group) {
      place_[k] = {buckets_.size(), bucket.slots.size()};
      bucket.slots.push_back(slot_in(bucket.flat, offset, parameters_[k].shape()));
      offset += static_cast<std::size_t>(parameters_[k].numel());
    }
    bucket.parameters = std::move(group);
    buckets_.push_back(std::move(bucket));
  }
}

std::unique_ptr<autograd::GradReadyHook> GradientReducer::hook() {
  return std::make_unique<autograd::GradReadyHook>([this](TensorImpl& leaf) {
    const auto found = index_.find(&leaf);
    if (found != index_.end()) on_ready(found->second);
  });
}

void GradientReducer::on_ready(std::size_t parameter) {
  if (reported_[parameter]) return;
  reported_[parameter] = true;
  const auto [b, s] = place_[parameter];
  Bucket& bucket = buckets_[b];
  Tensor slot = bucket.slots[s];
  const Tensor grad = parameters_[parameter].grad();
  if (grad.defined()) {
    slot.copy_(grad);
  } else {
    backend(slot.device()).fill(slot, 0);
  }
  if (++bucket.ready == bucket.parameters.size()) start_ready_buckets();
  // MPI advances nonblocking collectives only inside MPI calls: testing the buckets in flight lets them progress.
  for (std::size_t k = 0; k < next_to_start_; ++k)
    if (buckets_[k].pending) buckets_[k].pending->test();
}

void GradientReducer::start_ready_buckets() {
  static const char* const what = "the gradient all-reduce";
  while (next_to_start_ < buckets_.size() &&
         buckets_[next_to_start_].ready == buckets_[next_to_start_].parameters.size()) {
    Bucket& bucket = buckets_[next_to_start_++];
    bucket.pending = comm_.start_sum(bucket.flat, what);
  }
}

void GradientReducer::finish() {
  for (std::size_t k = 0; k < parameters_.size(); ++k)
    if (!reported_[k]) on_ready(k);  // not reached by backward: zeros (or what .grad holds) from this process
  const auto start = std::chrono::steady_clock::now();
  for (Bucket& bucket : buckets_) {
    bucket.pending->wait();
    bucket.pending.reset();
    bucket.ready = 0;
  }
  waiting_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (std::size_t k = 0; k < parameters_.size(); ++k) {
    const auto [b, s] = place_[k];
    const Tensor& sum = buckets_[b].slots[s];
    const Tensor grad = parameters_[k].grad();
    if (grad.defined()) {
      grad.copy_(sum);
    } else {
      parameters_[k].set_grad(sum.clone());
    }
    reported_[k] = false;
  }
  next_to_start_ = 0;
}

Tensor all_reduce_sum(const Tensor& x, Communicator& comm) {
  static const char* const what = "the batch-norm statistics all-reduce (--sync-bn)";
  Tensor out = x.clone();
  comm.all_reduce_sum(out, what);
  return autograd::record("all_reduce_sum", out, {x}, [&comm](const Tensor& g, const std::vector<bool>&) {
    Tensor summed = g.clone();
    comm.all_reduce_sum(summed, what);
    return std::vector<Tensor>{summed};
  });
}

}  // namespace edat::dist
