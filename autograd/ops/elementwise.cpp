// Elementwise ops. Each function runs the forward kernel and records the backward next to it, with the
// derivative in the comment. Binary ops broadcast; their gradients are summed back to each input's shape.
#include "autograd/ops/common.h"

namespace edat {
using namespace ops_detail;

namespace {

Tensor binary_forward(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  check_pair(name, a, b);
  EDAT_CHECK(broadcastable(a.shape(), b.shape()),
             name << ": shapes do not broadcast: " << a.desc() << " vs " << b.desc());
  Tensor out = new_like(a, broadcast_shapes(a.shape(), b.shape(), name));
  backend(a.device()).binary(op, a, b, out);
  return out;
}

Tensor unary_forward(UnaryOp op, const char* name, const Tensor& x, double scalar = 0) {
  check_floating(name, x);
  Tensor out = new_like(x, x.shape());
  backend(x.device()).unary(op, x, out, scalar);
  return out;
}

}  // namespace

// d(a+b)/da = 1, d(a+b)/db = 1
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::add, "add", a, b);
  return record("add", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& n) {
    return Grads{n[0] ? sum_to(g, sa) : Tensor(), n[1] ? sum_to(g, sb) : Tensor()};
  });
}

// d(a-b)/da = 1, d(a-b)/db = -1
Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::sub, "sub", a, b);
  return record("sub", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& n) {
    return Grads{n[0] ? sum_to(g, sa) : Tensor(), n[1] ? neg(sum_to(g, sb)) : Tensor()};
  });
}

// d(a*b)/da = b, d(a*b)/db = a
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::mul, "mul", a, b);
  return record("mul", out, {a, b}, [a = a.detach(), b = b.detach()](const Tensor& g, const std::vector<bool>& n) {
    return Grads{n[0] ? sum_to(g * b, a.shape()) : Tensor(), n[1] ? sum_to(g * a, b.shape()) : Tensor()};
  });
}

// d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 = -(a/b)/b
Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::div, "div", a, b);
  return record("div", out, {a, b},
                [b = b.detach(), q = out.detach(), sa = a.shape()](const Tensor& g, const std::vector<bool>& n) {
                  return Grads{n[0] ? sum_to(g / b, sa) : Tensor(), n[1] ? sum_to(neg(g * q / b), b.shape()) : Tensor()};
                });
}

// d(x+s)/dx = 1
Tensor add(const Tensor& x, double s) {
  Tensor out = unary_forward(UnaryOp::add_scalar, "add", x, s);
  return record("add_scalar", out, {x}, [](const Tensor& g, const std::vector<bool>&) { return Grads{g}; });
}

// d(x*s)/dx = s
Tensor mul(const Tensor& x, double s) {
  Tensor out = unary_forward(UnaryOp::mul_scalar, "mul", x, s);
  return record("mul_scalar", out, {x}, [s](const Tensor& g, const std::vector<bool>&) { return Grads{g * s}; });
}

// d(-x)/dx = -1
Tensor neg(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::neg, "neg", x);
  return record("neg", out, {x}, [](const Tensor& g, const std::vector<bool>&) { return Grads{neg(g)}; });
}

// d|x|/dx = sign(x) (0 at x = 0, as in PyTorch)
Tensor abs(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::abs, "abs", x);
  return record("abs", out, {x}, [x = x.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{g * sign(x)};
  });
}

// d sign(x)/dx = 0 almost everywhere
Tensor sign(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::sign, "sign", x);
  return record("sign", out, {x}, [](const Tensor& g, const std::vector<bool>&) { return Grads{zeros_like(g)}; });
}

// d e^x/dx = e^x: the output itself
Tensor exp(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::exp, "exp", x);
  return record("exp", out, {x}, [y = out.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{g * y};
  });
}

// d ln(x)/dx = 1/x
Tensor log(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::log, "log", x);
  return record("log", out, {x}, [x = x.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{g / x};
  });
}

// d sqrt(x)/dx = 1 / (2 sqrt(x)): half the reciprocal of the output
Tensor sqrt(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::sqrt, "sqrt", x);
  return record("sqrt", out, {x}, [y = out.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{g / (y * 2.0)};
  });
}

// d x^p/dx = p x^(p-1)
Tensor pow(const Tensor& x, double p) {
  Tensor out = unary_forward(UnaryOp::pow_scalar, "pow", x, p);
  return record("pow", out, {x}, [x = x.detach(), p](const Tensor& g, const std::vector<bool>&) {
    return Grads{g * (pow(x, p - 1.0) * p)};
  });
}

namespace {

// A clamp (relu, relu6): the gradient passes where the output lies strictly inside the clamp range, which the output
// alone tells, so the backward keeps the output and masks with `backward_op` (g where inside, else 0).
Tensor clamp_op(UnaryOp op, BinaryOp backward_op, const char* name, const Tensor& x) {
  Tensor out = unary_forward(op, name, x);
  return record(name, out, {x}, [y = out.detach(), backward_op](const Tensor& g, const std::vector<bool>&) {
    Tensor gx = new_like(g, g.shape());
    backend(g.device()).binary(backward_op, g, y, gx);
    return Grads{gx};
  });
}

}  // namespace

// d relu(x)/dx = 1 where x > 0, else 0; the output is > 0 exactly where x is.
Tensor relu(const Tensor& x) { return clamp_op(UnaryOp::relu, BinaryOp::relu_backward, "relu", x); }

// d relu6(x)/dx = 1 where 0 < x < 6, else 0 (PyTorch's hardtanh_backward: 0 at both kinks); the output lies strictly
// between 0 and 6 exactly where x does.
Tensor relu6(const Tensor& x) { return clamp_op(UnaryOp::relu6, BinaryOp::relu6_backward, "relu6", x); }

// d sigmoid(x)/dx = sigmoid(x) (1 - sigmoid(x)): from the output alone
Tensor sigmoid(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::sigmoid, "sigmoid", x);
  return record("sigmoid", out, {x}, [y = out.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{g * (y * (1.0 - y))};
  });
}

// d ln sigmoid(x)/dx = 1 - sigmoid(x) = sigmoid(-x) (no cancellation for large x)
Tensor log_sigmoid(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::log_sigmoid, "log_sigmoid", x);
  return record("log_sigmoid", out, {x}, [x = x.detach()](const Tensor& g, const std::vector<bool>&) {
    return Grads{g * sigmoid(neg(x))};
  });
}

// A mask, not recorded: its derivative is zero almost everywhere and nothing flows back through it.
Tensor greater(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::greater, "greater", a, b); }

Tensor greater(const Tensor& a, double s) {
  check_floating("greater", a);
  return greater(a, scalar_tensor(s, {.dtype = a.dtype(), .device = a.device()}));
}

}  // namespace edat
