// CPU throughput of the primitive kernels: f32 matmul in GFLOP/s and elementwise add in GB/s, each measured twice:
// the raw backend kernel into a preallocated output, and the autograd op (argument checks, a fresh output tensor);
// and ResNet-34's 3x3 convolutions, im2col against Winograd.
// Times are wall-clock (the kernels are OpenMP-parallel); by default each benchmark is repeated 5 times and only
// the mean/median/stddev/cv are reported. Run: build/bench/bench_cpu_kernels [--benchmark_filter=matmul ...]
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "layers/cpu/cpu_layer_kernels.h"
#include "layers/functional.h"
#include "layers/reference/reference_layer_kernels.h"
#include "tensor/backend.h"
#include "tensor/factory.h"

using namespace edat;

namespace {

Tensor random_f32(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  return uniform(shape, -1.0, 1.0, gen);
}

// C (n, n) = A (n, n) B (n, n): 2 n^3 floating-point operations.
void set_matmul_counter(benchmark::State& state, std::int64_t n) {
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * n * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_matmul_kernel(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  Tensor a = random_f32({n, n}, 1), b = random_f32({n, n}, 2), out = empty({n, n});
  Backend& cpu = backend(Device::cpu());
  for (auto _ : state) {
    cpu.matmul(a, b, out, false, false);
    benchmark::DoNotOptimize(out.raw_data());
    benchmark::ClobberMemory();
  }
  set_matmul_counter(state, n);
}

void BM_matmul_op(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  Tensor a = random_f32({n, n}, 1), b = random_f32({n, n}, 2);
  for (auto _ : state) {
    Tensor out = matmul(a, b);
    benchmark::DoNotOptimize(out.raw_data());
  }
  set_matmul_counter(state, n);
}

// out = a + b over n f32 elements: reads a and b, writes out, 3 * 4 bytes per element.
constexpr std::int64_t kAddElements = 16 * 1024 * 1024;

void set_add_counter(benchmark::State& state) {
  state.counters["GB/s"] =
      benchmark::Counter(3.0 * 4.0 * kAddElements * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_add_kernel(benchmark::State& state) {
  Tensor a = random_f32({kAddElements}, 1), b = random_f32({kAddElements}, 2), out = zeros({kAddElements});
  Backend& cpu = backend(Device::cpu());
  for (auto _ : state) {
    cpu.binary(BinaryOp::add, a, b, out);
    benchmark::DoNotOptimize(out.raw_data());
    benchmark::ClobberMemory();
  }
  set_add_counter(state);
}

void BM_add_op(benchmark::State& state) {
  Tensor a = random_f32({kAddElements}, 1), b = random_f32({kAddElements}, 2);
  for (auto _ : state) {
    Tensor out = add(a, b);
    benchmark::DoNotOptimize(out.raw_data());
  }
  set_add_counter(state);
}

// The 3x3 stride-1 convolutions of ResNet-34 at batch 32, 128 px (layer1 .. layer4): forward, data gradient and
// filter gradient of the CPU kernels, as im2col + GEMM (winograd 0) and as Winograd F(2x2, 3x3) (winograd 1), in
// GFLOP/s of the direct convolution (2 N K C 9 P Q), so that both are counted alike.
struct ConvLayer {
  std::int64_t channels, side;
};
constexpr ConvLayer kResnetLayers[] = {{64, 32}, {128, 16}, {256, 8}, {512, 4}};
constexpr std::int64_t kConvBatch = 32;

void BM_conv3x3(benchmark::State& state) {
  const ConvLayer layer = kResnetLayers[state.range(0)];
  const std::int64_t pass = state.range(1);  // 0 forward, 1 data gradient, 2 filter gradient
  const bool winograd = state.range(2) == 1;
  const std::int64_t C = layer.channels, side = layer.side;
  const Tensor x = random_f32({kConvBatch, C, side, side}, 1), w = random_f32({C, C, 3, 3}, 2);
  Tensor out = empty({kConvBatch, C, side, side}), dw = empty({C, C, 3, 3});
  const nn::Conv2dOptions pad1{.pad_h = 1, .pad_w = 1};
  const bool saved = nn::cpu_impl::conv2d_winograd();
  nn::cpu_impl::set_conv2d_winograd(winograd);
  nn::LayerKernels& cpu = nn::cpu_impl::cpu_layer_kernels();
  for (auto _ : state) {
    if (pass == 0) cpu.conv2d_forward(x, w, Tensor(), out, pad1);
    if (pass == 1) cpu.conv2d_backward_data(x, w, out, pad1);  // dy has x's shape here
    if (pass == 2) cpu.conv2d_backward_filter(x, x, dw, pad1);
    benchmark::DoNotOptimize(out.raw_data());
    benchmark::DoNotOptimize(dw.raw_data());
    benchmark::ClobberMemory();
  }
  nn::cpu_impl::set_conv2d_winograd(saved);
  const char* passes[] = {"forward", "data gradient", "filter gradient"};
  state.SetLabel(std::string(passes[pass]) + (winograd ? ", winograd" : ", im2col"));
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * kConvBatch * C * C * 9 * side * side * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

// Every distinct convolution of the ResNet-18 training case (batch 32, 64 px: the stem at 64 px, layer1 at 16 .. layer4
// at 2), each pass on the CPU kernels as the training step runs them, in milliseconds per call; `uses` is how
// many times one step runs it, so that the rows weighted by it add up to the step's convolution time.
struct ResnetConv {
  const char* name;
  std::int64_t in_channels, out_channels, kernel, stride, in_side, uses;
};
constexpr ResnetConv kResnet18Convs[] = {{"stem 7x7/2", 3, 64, 7, 2, 64, 1},     {"layer1 3x3", 64, 64, 3, 1, 16, 4},
                                         {"layer2 3x3/2", 64, 128, 3, 2, 16, 1}, {"layer2 1x1/2", 64, 128, 1, 2, 16, 1},
                                         {"layer2 3x3", 128, 128, 3, 1, 8, 3},   {"layer3 3x3/2", 128, 256, 3, 2, 8, 1},
                                         {"layer3 1x1/2", 128, 256, 1, 2, 8, 1}, {"layer3 3x3", 256, 256, 3, 1, 4, 3},
                                         {"layer4 3x3/2", 256, 512, 3, 2, 4, 1}, {"layer4 1x1/2", 256, 512, 1, 2, 4, 1},
                                         {"layer4 3x3", 512, 512, 3, 1, 2, 3}};

void BM_resnet18_conv(benchmark::State& state) {
  const ResnetConv c = kResnet18Convs[state.range(0)];
  const std::int64_t pass = state.range(1);  // 0 forward, 1 data gradient, 2 filter gradient
  const std::int64_t pad = c.kernel / 2, out_side = (c.in_side + 2 * pad - c.kernel) / c.stride + 1;
  const Tensor x = random_f32({kConvBatch, c.in_channels, c.in_side, c.in_side}, 1);
  const Tensor w = random_f32({c.out_channels, c.in_channels, c.kernel, c.kernel}, 2);
  const Tensor dy = random_f32({kConvBatch, c.out_channels, out_side, out_side}, 3);
  Tensor y = empty(dy.shape()), dx = empty(x.shape()), dw = empty(w.shape());
  const nn::Conv2dOptions options{.stride_h = c.stride, .stride_w = c.stride, .pad_h = pad, .pad_w = pad};
  nn::LayerKernels& cpu = nn::cpu_impl::cpu_layer_kernels();
  for (auto _ : state) {
    if (pass == 0) cpu.conv2d_forward(x, w, Tensor(), y, options);
    if (pass == 1) cpu.conv2d_backward_data(dy, w, dx, options);
    if (pass == 2) cpu.conv2d_backward_filter(dy, x, dw, options);
    benchmark::ClobberMemory();
  }
  const char* passes[] = {"forward", "data gradient", "filter gradient"};
  state.SetLabel(std::string(c.name) + ", " + passes[pass]);
  state.counters["uses"] = static_cast<double>(c.uses);
}

// The ResNet stem's max pooling (3x3, stride 2, padding 1) at batch 32 and 128 px: (32, 64, 64, 64) -> 32 x 32, with
// the argmax (training) or without it (evaluation), on the fast kernel or the textbook one.
void BM_max_pool_stem(benchmark::State& state) {
  const bool reference = state.range(0) == 1, with_indices = state.range(1) == 1;
  const Tensor x = random_f32({kConvBatch, 64, 64, 64}, 3);
  Tensor y = empty({kConvBatch, 64, 32, 32});
  Tensor indices = with_indices ? empty(y.shape(), {.dtype = DType::i64}) : Tensor();
  const nn::Pool2dOptions stem{.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
  nn::LayerKernels& kernels = reference ? nn::reference::reference_layer_kernels() : nn::cpu_impl::cpu_layer_kernels();
  for (auto _ : state) {
    kernels.max_pool2d_forward(x, y, indices, stem);
    benchmark::DoNotOptimize(y.raw_data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::string(reference ? "reference" : "fast") + (with_indices ? ", with indices" : ", values only"));
}

}  // namespace

BENCHMARK(BM_conv3x3)
    ->ArgsProduct({{0, 1, 2, 3}, {0, 1, 2}, {0, 1}})
    ->ArgNames({"layer", "pass", "winograd"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_resnet18_conv)
    ->ArgsProduct({{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {0, 1, 2}})
    ->ArgNames({"conv", "pass"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_max_pool_stem)
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->ArgNames({"reference", "indices"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_matmul_kernel)->Arg(512)->Arg(1024)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_matmul_op)->Arg(512)->Arg(1024)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_add_kernel)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_add_op)->UseRealTime()->Unit(benchmark::kMillisecond);

// Google Benchmark's main, with 5 repetitions and aggregates-only output as defaults that flags can override.
int main(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  std::string repetitions = "--benchmark_repetitions=5", aggregates = "--benchmark_report_aggregates_only=true";
  args.insert(args.begin() + 1, {repetitions.data(), aggregates.data()});  // later flags win
  int args_count = static_cast<int>(args.size());
  benchmark::Initialize(&args_count, args.data());
  if (benchmark::ReportUnrecognizedArguments(args_count, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
