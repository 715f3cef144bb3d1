// Lesson 1 (docs/learn/01-tensors-and-autograd.md): how ops record a graph and how the engine walks it backwards.
// The example is a diamond: x feeds two branches that meet again, y = (x * x) * (x + 3) at x = 2.
#include <cstdio>
#include <string>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "learn/lesson.h"
#include "tensor/factory.h"

using namespace edat;
using learn::close;
using learn::expect;

namespace {

// Prints the graph below `node` as an indented tree: what autograd::record attached, edge by edge.
void print_graph(const autograd::Node& node, int depth) {
  std::printf("%*s%s (node)\n", depth * 2, "", node.name());
  for (const autograd::Edge& edge : node.edges()) {
    if (edge.node) {
      print_graph(*edge.node, depth + 1);
    } else if (edge.leaf) {
      std::printf("%*sleaf x (its .grad receives the gradient)\n", (depth + 1) * 2, "");
    } else {
      std::printf("%*s(an input that needs no gradient)\n", (depth + 1) * 2, "");
    }
  }
}

double f(double x) { return (x * x) * (x + 3); }

}  // namespace

int main() {
  const Options f64{.dtype = DType::f64};
  // A leaf: made by a factory, not by an op; requires_grad asks backward() to fill its .grad.
  Tensor x = scalar_tensor(2.0, f64);
  x.set_requires_grad();

  // Forward: each op computes its value now and records a Node holding its backward (autograd/ops/elementwise.cpp).
  Tensor u = x * x;    // mul: u = 4,  du/dx = 2x (both edges of the node point at x)
  Tensor v = x + 3.0;  // add: v = 5,  dv/dx = 1
  Tensor y = u * v;    // mul: y = 20, dy/du = v = 5, dy/dv = u = 4
  std::printf("forward: x = %g, u = x*x = %g, v = x+3 = %g, y = u*v = %g\n", x.item(), u.item(), v.item(), y.item());
  expect(y.item() == 20, "y = (2*2) * (2+3) = 20");
  expect(x.is_leaf() && !y.is_leaf(), "x is a leaf, y has a grad_fn");

  std::printf("\nthe graph recorded on y (y.grad_fn()):\n");
  print_graph(*y.grad_fn(), 1);
  expect(y.grad_fn()->edges().size() == 2 && y.grad_fn()->edges()[0].node && y.grad_fn()->edges()[1].node,
         "y's node has two edges, to the nodes that made u and v");

  // Backward: the engine (autograd/engine.cpp, run_backward) orders the nodes so that a node runs only after every
  // use of its output has sent its gradient, sums what arrives, and accumulates into leaves.
  //   y's mul:  dy/du = v = 5,  dy/dv = u = 4
  //   v's add:  gradient 4 to x
  //   u's mul:  5 * x = 10 through each of its two edges to x: 20
  //   x.grad = 20 + 4 = 24  =  d/dx (x^3 + 3x^2) = 3x^2 + 6x at x = 2
  y.backward();
  const double analytic = x.grad().item();
  const double h = 1e-6, numeric = (f(2 + h) - f(2 - h)) / (2 * h);
  std::printf("\nbackward: x.grad = %g (by hand 3x^2 + 6x = %g, central difference %.9f)\n", analytic,
              3 * 4.0 + 6 * 2.0, numeric);
  expect(analytic == 24, "x.grad = 24: the two branches of the diamond are summed (20 via u, 4 via v)");
  expect(close(analytic, numeric, 1e-7), "analytic gradient = numeric gradient");

  // The engine released each node as it ran (its saved tensors are freed): a second walk is an error that says so.
  bool refused = false;
  try {
    y.backward();
  } catch (const Error& e) {
    refused = std::string(e.what()).find("already freed") != std::string::npos;
    std::printf("\nsecond backward through the same graph: %s\n", e.what());
  }
  expect(refused, "a graph is walked once (nodes are released as backward runs)");

  // .grad accumulates over backward() calls until zero_grad(): what optimizers rely on, and why they zero it.
  Tensor y2 = (x * x) * (x + 3.0);
  y2.backward();
  std::printf("after a second forward + backward without zero_grad: x.grad = %g\n", x.grad().item());
  expect(x.grad().item() == 48, "gradients accumulate into .grad: 24 + 24 = 48");
  x.zero_grad();
  expect(!x.grad().defined(), "zero_grad() drops .grad (PyTorch's set_to_none)");

  // Ops on tensors that need no gradient record nothing: no graph, no saved activations.
  Tensor c = scalar_tensor(2.0, f64);
  expect(!(c * c).grad_fn(), "no input requires grad: no node is recorded");
  return learn::finish("lesson 1");
}
