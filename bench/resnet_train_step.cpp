// resnet_train_step: times one training step (forward, L1 loss, backward, SGD update) of any models::make_model
// architecture (ResNet-18/34/50, MobileNetV2, VGG-16, VGG-16-BN) on the CPU or CUDA with synthetic data, and reports
// the median step time and the peak resident memory. Its PyTorch twin is bench/resnet_train_step.py;
// bench/run_resnet_cpu.sh runs both and prints the ratio.
//
//   resnet_train_step [--arch resnet34] [--batch 16] [--size 112] [--steps 10] [--warmup 2] [--device cpu]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "bench/bench_util.h"
#include "layers/functional.h"
#include "models/backbone.h"
#include "tensor/backend.h"
#include "tensor/factory.h"

using namespace edat;

int main(int argc, char** argv) {
  CLI::App app{"Times training steps (forward + L1 loss + backward + SGD) on synthetic data."};
  std::string arch = "resnet34", device_name = "cpu";
  int batch = 16, size = 112, steps = 10, warmup = 2;
  std::string archs;
  for (const std::string& name : models::architectures()) archs += (archs.empty() ? "" : ", ") + name;
  app.add_option("--arch", arch, archs)->capture_default_str();
  app.add_option("--batch", batch, "batch size")->capture_default_str();
  app.add_option("--size", size, "image height and width")->capture_default_str();
  app.add_option("--steps", steps, "timed steps")->capture_default_str();
  app.add_option("--warmup", warmup, "untimed steps first")->capture_default_str();
  app.add_option("--device", device_name, "cpu or cuda")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    const Device device = Device::parse(device_name);
    Generator gen(0);
    auto model = models::make_model(arch, 1, gen);
    model->to(device);
    model->train();
    const Tensor x = uniform({batch, 3, size, size}, -2, 2, gen, {.device = device});
    const Tensor target = uniform({batch, 1}, 20, 60, gen, {.device = device});
    const std::vector<Tensor> params = model->parameters();
    const double lr = 1e-3;

    // Per step: total, and the forward (to the loss), backward and update phases, to show where the time goes.
    std::vector<double> times, forward_times, backward_times, update_times;
    auto now = [&] {
      if (device.is_cuda()) cuda::synchronize();
      return std::chrono::steady_clock::now();
    };
    auto seconds = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
    for (int step = 0; step < warmup + steps; ++step) {
      const auto start = now();
      for (const Tensor& p : params) p.zero_grad();
      Tensor loss = nn::l1_loss(model->forward(x), target);
      const auto forward_end = now();
      loss.backward();
      const auto backward_end = now();
      {
        NoGradGuard no_grad;  // plain SGD: p -= lr * grad, in place
        for (const Tensor& p : params) {
          Tensor update = p.grad() * lr;
          Tensor out = p;
          backend(device).binary(BinaryOp::sub, p, update, out);
        }
      }
      const auto end = now();
      if (step >= warmup) {
        times.push_back(seconds(start, end));
        forward_times.push_back(seconds(start, forward_end));
        backward_times.push_back(seconds(forward_end, backward_end));
        update_times.push_back(seconds(backward_end, end));
      }
      std::fprintf(stderr, "step %d: %.3f s, loss %.3f\n", step, seconds(start, end), loss.item());
    }
    using bench::median;
    const double median_step = median(times);
    std::printf("edat phases: forward %.3f s, backward %.3f s, update %.3f s (medians)\n", median(forward_times),
                median(backward_times), median(update_times));
    std::printf(
        "edat %s train step, batch %d, 3x%dx%d, %s: median %.3f s over %d steps (%.1f images/s), "
        "peak RSS %.0f MiB\n",
        arch.c_str(), batch, size, size, device.str().c_str(), median_step, steps, batch / median_step,
        bench::peak_rss_mib());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "resnet_train_step: error: %s\n", e.what());
    return 1;
  }
}
