// resnet_train_step: times one training step (forward, L1 loss, backward, Adam update, as train_resnet runs it) or
// one inference batch (evaluation mode, no gradients, batch norms folded: layers/fold.h, as predict_age and
// evaluate_age run it) of any models::make_model architecture (ResNet-18/34/50, MobileNetV2, VGG-16, VGG-16-BN) on the
// CPU or CUDA with synthetic data, and reports the median time and the peak resident memory. Its PyTorch twin is
// bench/resnet_train_step.py; bench/run_resnet_cpu.sh runs both, bench/run_cpu_suite.sh every case of the CPU table.
//
//   resnet_train_step [--arch resnet34] [--batch 16] [--size 112] [--steps 10] [--warmup 2] [--device cpu]
//                     [--mode train|infer] [--optimizer adam|sgd]
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
#include "data/loader.h"
#include "layers/fold.h"
#include "layers/functional.h"
#include "models/backbone.h"
#include "optim/optimizer.h"
#include "tensor/backend.h"
#include "tensor/factory.h"

using namespace edat;

namespace {

using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times training steps (forward + L1 loss + backward + update) or inference batches on synthetic data."};
  std::string arch = "resnet34", device_name = "cpu", mode = "train", optimizer_name = "adam";
  int batch = 16, size = 112, steps = 10, warmup = 2;
  std::string archs;
  for (const std::string& name : models::architectures()) archs += (archs.empty() ? "" : ", ") + name;
  app.add_option("--arch", arch, archs)->capture_default_str();
  app.add_option("--batch", batch, "batch size")->capture_default_str();
  app.add_option("--size", size, "image height and width")->capture_default_str();
  app.add_option("--steps", steps, "timed steps")->capture_default_str();
  app.add_option("--warmup", warmup, "untimed steps first")->capture_default_str();
  app.add_option("--device", device_name, "cpu or cuda")->capture_default_str();
  app.add_option("--mode", mode, "train (a training step) or infer (an inference batch)")
      ->check(CLI::IsMember({"train", "infer"}))
      ->capture_default_str();
  app.add_option("--optimizer", optimizer_name, "adam or sgd (train mode)")
      ->check(CLI::IsMember({"adam", "sgd"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  data::keep_freed_memory_for_reuse();  // as train_resnet and evaluate_age run (data/loader.h)

  try {
    const Device device = Device::parse(device_name);
    Generator gen(0);
    auto model = models::make_model(arch, 1, gen);
    model->to(device);
    const Tensor x = uniform({batch, 3, size, size}, -2, 2, gen, {.device = device});
    const Tensor target = uniform({batch, 1}, 20, 60, gen, {.device = device});
    auto now = [&] {
      if (device.is_cuda()) cuda::synchronize();
      return Clock::now();
    };
    using bench::median;
    std::vector<double> times;

    if (mode == "infer") {
      model->eval();
      nn::fold_batch_norm(*model);
      NoGradGuard no_grad;
      for (int step = 0; step < warmup + steps; ++step) {
        const auto start = now();
        const Tensor y = model->forward(x);
        (void)y.cpu();
        const auto end = now();
        if (step >= warmup) times.push_back(seconds(start, end));
      }
      const double m = median(times);
      std::printf("edat %s infer batch, batch %d, 3x%dx%d, %s: median %.4f s over %d batches (%.1f images/s), "
                  "peak RSS %.0f MiB\n",
                  arch.c_str(), batch, size, size, device.str().c_str(), m, steps, batch / m, bench::peak_rss_mib());
      return 0;
    }

    model->train();
    auto optimizer = optim::make_optimizer(optimizer_name, model->named_parameters(), {.lr = 1e-3});
    // Per step: total, and the forward (to the loss), backward and update phases, to show where the time goes.
    std::vector<double> forward_times, backward_times, update_times;
    for (int step = 0; step < warmup + steps; ++step) {
      const auto start = now();
      optimizer->zero_grad();
      Tensor loss = nn::l1_loss(model->forward(x), target);
      const auto forward_end = now();
      loss.backward();
      const auto backward_end = now();
      optimizer->step();
      const auto end = now();
      if (step >= warmup) {
        times.push_back(seconds(start, end));
        forward_times.push_back(seconds(start, forward_end));
        backward_times.push_back(seconds(forward_end, backward_end));
        update_times.push_back(seconds(backward_end, end));
      }
      std::fprintf(stderr, "step %d: %.3f s, loss %.3f\n", step, seconds(start, end), loss.item());
    }
    const double median_step = median(times);
    std::printf("edat phases: forward %.3f s, backward %.3f s, update %.3f s (medians)\n", median(forward_times),
                median(backward_times), median(update_times));
    std::printf(
        "edat %s train step (%s), batch %d, 3x%dx%d, %s: median %.3f s over %d steps (%.1f images/s), "
        "peak RSS %.0f MiB\n",
        arch.c_str(), optimizer_name.c_str(), batch, size, size, device.str().c_str(), median_step, steps,
        batch / median_step, bench::peak_rss_mib());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "resnet_train_step: error: %s\n", e.what());
    return 1;
  }
}
