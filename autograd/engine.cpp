// The backward engine: walks the graph from the loss in reverse topological order, summing the gradients that
// reach each node from all its uses (so a tensor used twice, a diamond, gets both contributions), accumulating
// into the .grad of leaves, and releasing each node once it has run.
#include <unordered_map>
#include <unordered_set>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/backend.h"
#include "tensor/factory.h"

namespace edat {

namespace {
thread_local bool grad_enabled = true;
}  // namespace

bool is_grad_enabled() { return grad_enabled; }
void set_grad_enabled(bool enabled) { grad_enabled = enabled; }

namespace autograd {

std::vector<Tensor> Node::apply(const Tensor& grad_output) {
  EDAT_CHECK(backward_, "backward: the graph through '" << name_ << "' was already freed by an earlier backward()");
  std::vector<bool> needs(edges_.size());
  for (std::size_t i = 0; i < edges_.size(); ++i) needs[i] = edges_[i].needed();
  std::vector<Tensor> grads = backward_(grad_output, needs);
  EDAT_CHECK(grads.size() == edges_.size(), "backward of '" << name_ << "' returned " << grads.size()
                                                            << " gradients for " << edges_.size() << " inputs");
  for (std::size_t i = 0; i < grads.size(); ++i) {
    EDAT_CHECK(!needs[i] || (grads[i].defined() && grads[i].shape() == edges_[i].shape),
               "backward of '" << name_ << "': gradient of input " << i << " is " << grads[i].desc()
                               << ", expected shape " << shape_str(edges_[i].shape));
  }
  return grads;
}

Tensor record(const char* name, Tensor output, const std::vector<Tensor>& inputs, BackwardFn backward) {
  if (!is_grad_enabled()) return output;
  bool any = false;
  for (const Tensor& input : inputs) any = any || input.requires_grad();
  if (!any) return output;
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const Tensor& input : inputs) {
    Edge edge;
    if (input.requires_grad()) {
      if (input.grad_fn()) {
        edge.node = input.grad_fn();
      } else {
        edge.leaf = input.impl_ptr();
      }
      edge.shape = input.shape();
    }
    edges.push_back(std::move(edge));
  }
  output.impl()->grad_fn = std::make_shared<Node>(name, std::move(edges), std::move(backward));
  output.impl()->requires_grad = true;
  return output;
}

namespace {

thread_local const GradReadyFn* grad_ready_hook = nullptr;

// Adds g into a leaf's .grad: the first gradient is stored (stolen when nobody else holds it), later ones are added
// in place, which is what makes .grad accumulate across backward() calls until zero_grad().
void accumulate_into_leaf(TensorImpl& leaf, Tensor g) {
  if (!leaf.grad.defined()) {
    const bool exclusive = g.impl_ptr().use_count() == 1 && g.impl()->storage.use_count() == 1;
    leaf.grad = exclusive ? g.detach() : g.clone();
  } else {
    backend(g.device()).binary(BinaryOp::add, leaf.grad, g, leaf.grad);
  }
}

// Nodes reachable from root, ordered so that every node comes before the nodes of its inputs. The shared_ptrs keep
// every node alive for the whole walk, even after the node above it has been released.
std::vector<std::shared_ptr<Node>> topological_order(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> post_order;
  std::unordered_set<Node*> visited{root.get()};
  std::vector<std::pair<std::shared_ptr<Node>, std::size_t>> stack{{root, 0}};  // iterative: deep nets are deep
  while (!stack.empty()) {
    auto& [node, next_edge] = stack.back();
    if (next_edge < node->edges().size()) {
      std::shared_ptr<Node> child = node->edges()[next_edge++].node;
      if (child && visited.insert(child.get()).second) stack.emplace_back(std::move(child), 0);
    } else {
      post_order.push_back(std::move(node));
      stack.pop_back();
    }
  }
  return {post_order.rbegin(), post_order.rend()};
}

// For the GradReadyHook: how many edges of the graph's nodes point at each leaf; a leaf is ready at its last.
std::unordered_map<TensorImpl*, int> leaf_uses(const std::vector<std::shared_ptr<Node>>& order) {
  std::unordered_map<TensorImpl*, int> uses;
  for (const std::shared_ptr<Node>& node : order)
    for (const Edge& edge : node->edges())
      if (edge.leaf) ++uses[edge.leaf.get()];
  return uses;
}

}  // namespace

GradReadyHook::GradReadyHook(GradReadyFn on_ready) : on_ready_(std::move(on_ready)), previous_(grad_ready_hook) {
  grad_ready_hook = &on_ready_;
}
GradReadyHook::~GradReadyHook() { grad_ready_hook = previous_; }

void run_backward(const Tensor& root, const Tensor& grad) {
  EDAT_CHECK(root.defined(), "backward: called on an undefined tensor");
  EDAT_CHECK(root.requires_grad(),
             "backward: " << root.desc() << " does not require grad (no input of its computation requires grad)");
  Tensor seed = grad;
  if (!seed.defined()) {
    EDAT_CHECK(root.numel() == 1, "backward: " << root.desc() << " is not a scalar; pass a gradient of shape "
                                               << shape_str(root.shape()) << " to backward(grad)");
    seed = ones_like(root);
  } else {
    EDAT_CHECK(seed.shape() == root.shape() && seed.dtype() == root.dtype() && seed.device() == root.device(),
               "backward: gradient " << seed.desc() << " does not match the tensor " << root.desc());
  }

  NoGradGuard no_grad;
  if (root.is_leaf()) {
    accumulate_into_leaf(*root.impl(), seed.detach());
    return;
  }
  // Hold the root node so the graph stays alive while we walk it, whatever the caller drops.
  std::shared_ptr<Node> root_node = root.grad_fn();
  std::unordered_map<Node*, Tensor> pending{{root_node.get(), seed.detach()}};
  const std::vector<std::shared_ptr<Node>> order = topological_order(root_node);
  const GradReadyFn* const hook = grad_ready_hook;
  std::unordered_map<TensorImpl*, int> uses = hook ? leaf_uses(order) : std::unordered_map<TensorImpl*, int>{};
  auto report_ready_leaves = [&](const std::vector<Edge>& edges) {
    for (const Edge& edge : edges)
      if (edge.leaf && --uses[edge.leaf.get()] == 0) (*hook)(*edge.leaf);
  };
  for (const std::shared_ptr<Node>& node : order) {
    auto found = pending.find(node.get());
    if (found == pending.end()) {  // no gradient reached it (all paths gave none): nothing to propagate
      if (hook) report_ready_leaves(node->edges());
      node->release();
      continue;
    }
    Tensor grad_output = std::move(found->second);
    pending.erase(found);
    std::vector<Tensor> grads = node->apply(grad_output);
    grad_output = Tensor();
    const std::vector<Edge> edges = node->edges();
    node->release();
    for (std::size_t i = 0; i < edges.size(); ++i) {
      if (!edges[i].needed() || !grads[i].defined()) continue;
      if (edges[i].leaf) {
        accumulate_into_leaf(*edges[i].leaf, std::move(grads[i]));
      } else {
        Tensor& slot = pending[edges[i].node.get()];
        slot = slot.defined() ? add(slot, grads[i]) : std::move(grads[i]);
      }
    }
    if (hook) report_ready_leaves(edges);
  }
}

}  // namespace autograd

void Tensor::backward(const Tensor& grad) const { autograd::run_backward(*this, grad); }

}  // namespace edat
