// bench_train_gpu: training throughput of ResNet (1 output, L1 loss, Adam lr 1e-3) on a synthetic fp32 batch that
// stays on the device, and the peak memory. Its PyTorch twin is bench/bench_train_gpu.py (same shapes, same line);
// bench/run_train_gpu.sh runs both and prints the ratios edat / PyTorch.
//
//   bench_train_gpu [--device cuda] [--batch 256] [--size 224] [--steps 20] [--warmup 5]
//   -> edat resnet34 device=cuda batch=256 size=224 steps=20 images_per_second=... step_ms=... peak_mib=...
//
// Peak memory: on CUDA the caching allocator's peak of bytes held by live tensors since the start (model, batch,
// Adam state, activations, cuDNN workspaces), the counterpart of torch.cuda.max_memory_allocated(); on the CPU the
// process's peak resident set (VmHWM), which also holds the program and libraries.
//
// Math, equal on both sides and printed on the line: TF32 follows PyTorch's defaults unless overridden, i.e. off for
// matmuls (torch.backends.cuda.matmul.allow_tf32 = False) and on for cuDNN convolutions (torch.backends.cudnn.
// allow_tf32 = True); edat gets them through EDAT_ALLOW_TF32_MATMUL / EDAT_ALLOW_TF32_CUDNN (tensor/cuda/tf32.h).
// cuDNN algorithms are chosen by timing (EDAT_CUDNN_BENCHMARK=1, as torch.backends.cudnn.benchmark = True).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "layers/functional.h"
#include "models/resnet.h"
#include "optim/optimizer.h"
#include "tensor/backend.h"
#include "tensor/factory.h"

using namespace edat;

int main(int argc, char** argv) {
  CLI::App app{"ResNet training throughput (forward + L1 loss + backward + Adam) on a device-resident batch."};
  std::string arch = "resnet34", device_name = "cuda";
  int batch = 256, size = 224, steps = 20, warmup = 5;
  bool tf32_matmul = false, tf32_cudnn = true, cudnn_benchmark = true;
  app.add_option("--arch", arch, "resnet18, resnet34 or resnet50")->capture_default_str();
  app.add_option("--device", device_name, "cpu or cuda")->capture_default_str();
  app.add_option("--batch", batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--size", size, "image height and width")->capture_default_str()->check(CLI::Range(32, 4096));
  app.add_option("--steps", steps, "timed steps (the median is reported)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed steps first (allocator cache, cuDNN algorithm search)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--tf32-matmul", tf32_matmul, "allow TF32 in cuBLAS matmuls (PyTorch's default: 0)")
      ->capture_default_str();
  app.add_option("--tf32-cudnn", tf32_cudnn, "allow TF32 in cuDNN convolutions (PyTorch's default: 1)")
      ->capture_default_str();
  app.add_option("--cudnn-benchmark", cudnn_benchmark, "time cuDNN's algorithms once per shape")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // Read once by the libraries at their first handle: must be set before any CUDA work.
  setenv("EDAT_ALLOW_TF32_MATMUL", tf32_matmul ? "1" : "0", 1);
  setenv("EDAT_ALLOW_TF32_CUDNN", tf32_cudnn ? "1" : "0", 1);
  setenv("EDAT_CUDNN_BENCHMARK", cudnn_benchmark ? "1" : "0", 1);

  try {
    const Device device = Device::parse(device_name);
    if (device.is_cuda() && !cuda::is_available()) {
      throw Error("--device cuda: no CUDA device: " + cuda::unavailable_reason());
    }
    Generator gen(0);
    auto model = models::make_resnet(arch, 1, gen);
    model->to(device);
    model->train();
    auto optimizer = optim::make_optimizer("adam", model->named_parameters(), {.lr = 1e-3});
    const Tensor x = uniform({batch, 3, size, size}, -2, 2, gen, {.device = device});
    const Tensor target = uniform({batch, 1}, 20, 60, gen, {.device = device});

    auto sync = [&] {
      if (device.is_cuda()) cuda::synchronize();
    };
    std::vector<double> times;
    double last_loss = 0;
    for (int step = 0; step < warmup + steps; ++step) {
      sync();
      const auto start = std::chrono::steady_clock::now();
      optimizer->zero_grad();
      Tensor loss = nn::l1_loss(model->forward(x), target);
      loss.backward();
      optimizer->step();
      sync();
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (step >= warmup) times.push_back(seconds);
      if (step == warmup + steps - 1) last_loss = loss.item();  // .item() syncs: only once, outside the timing
    }
    const double step_s = bench::median(times);
    const double peak_mib = device.is_cuda()
                                ? static_cast<double>(cuda::memory_stats(device.index).peak_bytes_in_use) / (1 << 20)
                                : bench::peak_rss_mib();
    std::printf(
        "edat %s device=%s batch=%d size=%d steps=%d images_per_second=%.1f step_ms=%.2f peak_mib=%.0f "
        "tf32_matmul=%d tf32_cudnn=%d final_loss=%.3f\n",
        arch.c_str(), device.is_cuda() ? "cuda" : "cpu", batch, size, steps, batch / step_s, step_s * 1e3, peak_mib,
        tf32_matmul ? 1 : 0, tf32_cudnn ? 1 : 0, last_loss);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train_gpu: error: %s\n", e.what());
    return 1;
  }
}
