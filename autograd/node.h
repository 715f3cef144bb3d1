// A node of the autograd graph: the backward of one op application.
//
// Every differentiable op makes one output. When grad mode is on and an input requires grad, the op records a
// Node on its output (output.grad_fn()) with one Edge per input, pointing either at the node that made that input
// or, for a leaf that requires grad, at the leaf itself (its .grad is where the gradient accumulates).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace edat::autograd {

class Node;

struct Edge {
  std::shared_ptr<Node> node;         // the input was produced by this node ...
  std::shared_ptr<TensorImpl> leaf;   // ... or is this leaf with requires_grad; neither: no gradient needed
  Shape shape;                        // the input's shape, to validate the gradient flowing to it
  bool needed() const { return node || leaf; }
};

// Given dLoss/dOutput and which inputs need a gradient, returns dLoss/dInput_i for each input
// (an undefined Tensor for inputs that need none). Runs with grad mode off.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output, const std::vector<bool>& needs)>;

class Node {
 public:
  Node(const char* name, std::vector<Edge> edges, BackwardFn backward)
      : name_(name), edges_(std::move(edges)), backward_(std::move(backward)) {}

  const char* name() const { return name_; }
  const std::vector<Edge>& edges() const { return edges_; }
  bool released() const { return !backward_; }

  std::vector<Tensor> apply(const Tensor& grad_output);
  // Frees what backward needed (saved tensors, edges): the graph is freed as backward walks it.
  void release() {
    backward_ = nullptr;
    edges_.clear();
  }

 private:
  const char* name_;
  std::vector<Edge> edges_;
  BackwardFn backward_;
};

// While a GradReadyHook lives, backward() on this thread calls it for each leaf once the leaf's gradient of this
// backward is complete: every node with an edge to it has run (a leaf no gradient reached is reported too, its
// .grad unchanged). Data-parallel training (dist/gradient_reducer.h) starts reducing gradients from there while the
// rest of backward runs. Without a hook backward does no extra work.
using GradReadyFn = std::function<void(TensorImpl& leaf)>;
class GradReadyHook {
 public:
  explicit GradReadyHook(GradReadyFn on_ready);
  ~GradReadyHook();
  GradReadyHook(const GradReadyHook&) = delete;
  GradReadyHook& operator=(const GradReadyHook&) = delete;

 private:
  GradReadyFn on_ready_;
  const GradReadyFn* previous_;
};

// Attaches a node to `output` when grad mode is on and some input requires grad; returns output.
// `backward` captures what it needs from the forward (saved with detach(), so the graph holds no cycle).
Tensor record(const char* name, Tensor output, const std::vector<Tensor>& inputs, BackwardFn backward);

}  // namespace edat::autograd
