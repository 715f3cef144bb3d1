// fit_mlp: trains a 2-layer MLP (1 -> 64 -> 1, ReLU) to fit y = sin(x) on [-3, 3] with full-batch SGD with
// momentum, using nothing but edat tensors and autograd. It prints the mean squared error as it falls and exits
// non-zero if the fit did not reach the target, so it doubles as a smoke test of the whole stack.
//
//   fit_mlp [--steps N] [--device cpu|cuda|cuda:N] [--seed S]
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/factory.h"

using namespace edat;

namespace {

struct Args {
  int steps = 3000;
  std::string device = "cpu";
  std::uint64_t seed = 0;
};

int run(const Args& args) {
  const Device device = Device::parse(args.device);
  const Options on_device{.device = device};

  // Data: 256 points of y = sin(x), x evenly spaced in [-3, 3], as (N, 1) columns.
  const int n = 256;
  Tensor x = arange(0, n, 1, on_device).untracked_view({n, 1}) * (6.0 / (n - 1)) - 3.0;
  std::vector<double> xs = x.to_vector<double>(), ys;
  for (double v : xs) ys.push_back(std::sin(v));
  Tensor y = from_vector(ys, {n, 1}, on_device);

  // Parameters with PyTorch's nn.Linear initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  Generator gen(args.seed);
  const int hidden = 64;
  const double b1 = 1.0, b2 = 1.0 / std::sqrt(hidden);
  std::vector<Tensor> params = {
      uniform({hidden, 1}, -b1, b1, gen, {.device = device, .requires_grad = true}),  // W1
      uniform({hidden}, -b1, b1, gen, {.device = device, .requires_grad = true}),     // b1
      uniform({1, hidden}, -b2, b2, gen, {.device = device, .requires_grad = true}),  // W2
      uniform({1}, -b2, b2, gen, {.device = device, .requires_grad = true}),          // b2
  };
  std::vector<Tensor> velocity;
  for (const Tensor& p : params) velocity.push_back(zeros_like(p));

  const double lr = 0.01, momentum = 0.9, target = 1e-3;
  double loss_value = 0;
  std::printf("fitting y = sin(x) with a 1-%d-1 ReLU MLP on %s: %d steps of SGD (lr %g, momentum %g)\n", hidden,
              device.str().c_str(), args.steps, lr, momentum);
  for (int step = 1; step <= args.steps; ++step) {
    // Forward: h = relu(x W1^T + b1), prediction = h W2^T + b2, loss = mean((prediction - y)^2).
    Tensor h = relu(matmul(x, params[0], false, true) + params[1]);
    Tensor prediction = matmul(h, params[2], false, true) + params[3];
    Tensor loss = mean(pow(prediction - y, 2.0));
    for (Tensor& p : params) p.zero_grad();
    loss.backward();
    loss_value = loss.item();

    // SGD with momentum, PyTorch's form: v = momentum * v + g; p = p - lr * v.
    NoGradGuard no_grad;
    for (std::size_t i = 0; i < params.size(); ++i) {
      velocity[i] = velocity[i] * momentum + params[i].grad();
      params[i].copy_(params[i] - velocity[i] * lr);
    }
    if (step == 1 || step % 500 == 0 || step == args.steps) std::printf("step %5d  mse %.6f\n", step, loss_value);
  }
  const bool reached = loss_value < target;
  std::printf("final mse %.6f: %s the target %.0e\n", loss_value, reached ? "below" : "NOT below", target);
  return reached ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Trains a 1-64-1 ReLU MLP on y = sin(x) with edat; exits 1 unless the MSE falls below 1e-3."};
  Args args;
  app.add_option("--steps", args.steps, "full-batch SGD steps")->check(CLI::Range(1, 100000000))->capture_default_str();
  app.add_option("--device", args.device, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--seed", args.seed, "seed of the weight initialisation")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    return run(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fit_mlp: error: %s\n", e.what());
    return 1;
  }
}
