// cuDNN handles, descriptors, errors, and the cached algorithm choice of convolutions (see cudnn_wrapper.h).
#include "layers/cuda/cudnn_wrapper.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "layers/cuda/cudnn_status.h"
#include "layers/kernels.h"
#include "tensor/cuda/cuda_allocator.h"
#include "tensor/cuda/tf32.h"
#include "tensor/determinism.h"

namespace edat::nn::cuda_impl {

using edat::cuda_impl::current_stream;
using edat::cuda_impl::DeviceBuffer;

namespace {

constexpr int kMaxDevices = 64;
// The most workspace a benchmarked search (EDAT_CUDNN_BENCHMARK=1) offers the algorithms it times. The block stays
// in the caching allocator afterwards, so it is bounded; algorithms needing more are not timed.
constexpr std::size_t kMaxFindWorkspace = std::size_t{1} << 30;

bool env_flag(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && std::strcmp(value, "1") == 0;
}
bool tf32_allowed() {
  static const bool allowed = edat::cuda_impl::tf32_allowed_by_env("EDAT_ALLOW_TF32_CUDNN");
  return allowed;
}
bool benchmark_enabled() {
  static const bool enabled = env_flag("EDAT_CUDNN_BENCHMARK");
  return enabled;
}
bool verbose() {
  static const bool enabled = env_flag("EDAT_CUDNN_VERBOSE");
  return enabled;
}

struct CudnnHandles {
  std::mutex mutex;
  std::array<cudnnHandle_t, kMaxDevices> by_device{};
  std::array<cudaStream_t, kMaxDevices> stream{};  // the stream each handle is bound to
};

}  // namespace

[[noreturn]] void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file, int line) {
  std::string message = std::string("cuDNN error: ") + call + " failed at " + file + ":" + std::to_string(line) + ": " +
                        cudnnGetErrorString(status) + " (status " + std::to_string(static_cast<int>(status)) + ")";
  if (const std::string hint = cudnn_environment_hint(status); !hint.empty()) {
    message += ". cuDNN cannot run in this installation: " + hint;
  }
  std::array<char, 1024> detail{};
  cudnnGetLastErrorString(detail.data(), detail.size());
  detail.back() = '\0';
  if (detail[0] != '\0') message += std::string(" (") + detail.data() + ")";
  throw Error(message);
}

cudnnHandle_t cudnn_handle(int device) {
  EDAT_CHECK(device >= 0 && device < kMaxDevices, "cuDNN: cuda:" << device << " is out of range");
  static auto* handles = new CudnnHandles;  // leaked: destroying handles during static destruction races CUDA's
  std::lock_guard<std::mutex> lock(handles->mutex);
  const auto slot = static_cast<std::size_t>(device);
  cudnnHandle_t& handle = handles->by_device[slot];
  if (handle == nullptr) {
    cudnnHandle_t created = nullptr;
    EDAT_CUDNN_CHECK(cudnnCreate(&created));
    EDAT_CUDNN_CHECK(cudnnSetStream(created, current_stream()));
    handle = created;
    handles->stream[slot] = current_stream();
  }
  if (handles->stream[slot] != current_stream()) {
    EDAT_CUDNN_CHECK(cudnnSetStream(handle, current_stream()));
    handles->stream[slot] = current_stream();
  }
  return handle;
}

cudnnDataType_t cudnn_data_type(DType dtype, const char* op) {
  switch (dtype) {
    case DType::f32:
      return CUDNN_DATA_FLOAT;
    case DType::f64:
      return CUDNN_DATA_DOUBLE;
    default:
      throw Error(std::string(op) + " does not support " + dtype_name(dtype) + " on CUDA yet");
  }
}

int to_cudnn_int(std::int64_t value, const char* op) {
  EDAT_CHECK(value >= 0 && value <= INT_MAX,
             op << ": the size " << value << " does not fit cuDNN's 32-bit interface (at most 2^31 - 1)");
  return static_cast<int>(value);
}

TensorDescriptor::TensorDescriptor(DType dtype, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                                   const char* op) {
  EDAT_CUDNN_CHECK(cudnnSetTensor4dDescriptor(get(), CUDNN_TENSOR_NCHW, cudnn_data_type(dtype, op), to_cudnn_int(n, op),
                                              to_cudnn_int(c, op), to_cudnn_int(h, op), to_cudnn_int(w, op)));
}

TensorDescriptor::TensorDescriptor(DType dtype, const Shape& nchw, const char* op)
    : TensorDescriptor(dtype, nchw.at(0), nchw.at(1), nchw.at(2), nchw.at(3), op) {}

FilterDescriptor::FilterDescriptor(DType dtype, const Shape& kcrs, const char* op) {
  EDAT_CUDNN_CHECK(cudnnSetFilter4dDescriptor(get(), cudnn_data_type(dtype, op), CUDNN_TENSOR_NCHW,
                                              to_cudnn_int(kcrs.at(0), op), to_cudnn_int(kcrs.at(1), op),
                                              to_cudnn_int(kcrs.at(2), op), to_cudnn_int(kcrs.at(3), op)));
}

ConvolutionDescriptor::ConvolutionDescriptor(DType dtype, const Conv2dOptions& o, cudnnMathType_t math,
                                             const char* op) {
  EDAT_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(get(), to_cudnn_int(o.pad_h, op), to_cudnn_int(o.pad_w, op),
                                                   to_cudnn_int(o.stride_h, op), to_cudnn_int(o.stride_w, op),
                                                   to_cudnn_int(o.dilation_h, op), to_cudnn_int(o.dilation_w, op),
                                                   CUDNN_CROSS_CORRELATION, cudnn_data_type(dtype, op)));
  EDAT_CUDNN_CHECK(cudnnSetConvolutionGroupCount(get(), to_cudnn_int(o.groups, op)));
  set_math_type(math);
}

void ConvolutionDescriptor::set_math_type(cudnnMathType_t math) const {
  EDAT_CUDNN_CHECK(cudnnSetConvolutionMathType(get(), math));
}

ActivationDescriptor::ActivationDescriptor(cudnnActivationMode_t mode, double coef) {
  EDAT_CUDNN_CHECK(cudnnSetActivationDescriptor(get(), mode, CUDNN_PROPAGATE_NAN, coef));
}

cudnnMathType_t default_math_type(DType dtype) {
  if (dtype == DType::f32 && !tf32_allowed()) return CUDNN_FMA_MATH;
  return CUDNN_DEFAULT_MATH;
}

ConvProblem::ConvProblem(const Shape& x_shape_, const Shape& weight_shape_, const Shape& y_shape_,
                         const Conv2dOptions& options_, DType dtype_, int device_)
    : dtype(dtype_),
      device(device_),
      x_shape(x_shape_),
      weight_shape(weight_shape_),
      y_shape(y_shape_),
      options(options_),
      math(default_math_type(dtype_)),
      x(dtype_, x_shape_, "conv2d"),
      weight(dtype_, weight_shape_, "conv2d"),
      y(dtype_, y_shape_, "conv2d"),
      conv(dtype_, options_, math, "conv2d") {}

// ---------------------------------------------------------------------------------------------------------------
// Algorithm choice: the three passes differ only in which cuDNN functions they call, collected in a traits struct
// each; rank_candidates and run_pass are written once for all three.
// ---------------------------------------------------------------------------------------------------------------

namespace {

enum Pass : std::int64_t { kForward, kBackwardData, kBackwardFilter };

// The data of one pass: forward reads x and weight and writes out (= y); backward data reads weight and y (= dy)
// and writes out (= dx); backward filter reads x and y (= dy) and writes out (= dweight).
struct Buffers {
  const void* x = nullptr;
  const void* weight = nullptr;
  const void* y = nullptr;
  void* out = nullptr;
};

struct ForwardPass {
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  using Algo = cudnnConvolutionFwdAlgo_t;
  static constexpr Pass pass = kForward;
  static constexpr const char* name = "conv2d forward (cudnnConvolutionForward)";
  static constexpr Algo no_workspace = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  static constexpr Algo deterministic_fallback = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;

  static cudnnStatus_t max_count(cudnnHandle_t h, int* count) {
    return cudnnGetConvolutionForwardAlgorithmMaxCount(h, count);
  }
  static cudnnStatus_t heuristics(cudnnHandle_t h, const ConvProblem& p, int n, int* got, Perf* perf) {
    return cudnnGetConvolutionForwardAlgorithm_v7(h, p.x.get(), p.weight.get(), p.conv.get(), p.y.get(), n, got, perf);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const ConvProblem& p, const Buffers& b, int n, int* got, Perf* perf,
                            void* workspace, std::size_t bytes) {
    return cudnnFindConvolutionForwardAlgorithmEx(h, p.x.get(), b.x, p.weight.get(), b.weight, p.conv.get(), p.y.get(),
                                                  b.out, n, got, perf, workspace, bytes);
  }
  static cudnnStatus_t workspace_size(cudnnHandle_t h, const ConvProblem& p, Algo algo, std::size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, p.x.get(), p.weight.get(), p.conv.get(), p.y.get(), algo, bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const ConvProblem& p, const Buffers& b, Algo algo, void* workspace,
                           std::size_t bytes) {
    const ScalingFactor one(p.dtype, 1.0), zero(p.dtype, 0.0);
    return cudnnConvolutionForward(h, one.get(), p.x.get(), b.x, p.weight.get(), b.weight, p.conv.get(), algo,
                                   workspace, bytes, zero.get(), p.y.get(), b.out);
  }
};

struct BackwardDataPass {
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  using Algo = cudnnConvolutionBwdDataAlgo_t;
  static constexpr Pass pass = kBackwardData;
  static constexpr const char* name = "conv2d backward data (cudnnConvolutionBackwardData)";
  static constexpr Algo no_workspace = CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;  // adds with atomics
  static constexpr Algo deterministic_fallback = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;

  static cudnnStatus_t max_count(cudnnHandle_t h, int* count) {
    return cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, count);
  }
  static cudnnStatus_t heuristics(cudnnHandle_t h, const ConvProblem& p, int n, int* got, Perf* perf) {
    return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.weight.get(), p.y.get(), p.conv.get(), p.x.get(), n, got,
                                                       perf);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const ConvProblem& p, const Buffers& b, int n, int* got, Perf* perf,
                            void* workspace, std::size_t bytes) {
    return cudnnFindConvolutionBackwardDataAlgorithmEx(h, p.weight.get(), b.weight, p.y.get(), b.y, p.conv.get(),
                                                       p.x.get(), b.out, n, got, perf, workspace, bytes);
  }
  static cudnnStatus_t workspace_size(cudnnHandle_t h, const ConvProblem& p, Algo algo, std::size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.weight.get(), p.y.get(), p.conv.get(), p.x.get(), algo,
                                                        bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const ConvProblem& p, const Buffers& b, Algo algo, void* workspace,
                           std::size_t bytes) {
    const ScalingFactor one(p.dtype, 1.0), zero(p.dtype, 0.0);
    return cudnnConvolutionBackwardData(h, one.get(), p.weight.get(), b.weight, p.y.get(), b.y, p.conv.get(), algo,
                                        workspace, bytes, zero.get(), p.x.get(), b.out);
  }
};

struct BackwardFilterPass {
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  using Algo = cudnnConvolutionBwdFilterAlgo_t;
  static constexpr Pass pass = kBackwardFilter;
  static constexpr const char* name = "conv2d backward filter (cudnnConvolutionBackwardFilter)";
  static constexpr Algo no_workspace = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0;  // adds with atomics
  static constexpr Algo deterministic_fallback = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;

  static cudnnStatus_t max_count(cudnnHandle_t h, int* count) {
    return cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, count);
  }
  static cudnnStatus_t heuristics(cudnnHandle_t h, const ConvProblem& p, int n, int* got, Perf* perf) {
    return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x.get(), p.y.get(), p.conv.get(), p.weight.get(), n, got,
                                                         perf);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const ConvProblem& p, const Buffers& b, int n, int* got, Perf* perf,
                            void* workspace, std::size_t bytes) {
    return cudnnFindConvolutionBackwardFilterAlgorithmEx(h, p.x.get(), b.x, p.y.get(), b.y, p.conv.get(),
                                                         p.weight.get(), b.out, n, got, perf, workspace, bytes);
  }
  static cudnnStatus_t workspace_size(cudnnHandle_t h, const ConvProblem& p, Algo algo, std::size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p.x.get(), p.y.get(), p.conv.get(), p.weight.get(), algo,
                                                          bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const ConvProblem& p, const Buffers& b, Algo algo, void* workspace,
                           std::size_t bytes) {
    const ScalingFactor one(p.dtype, 1.0), zero(p.dtype, 0.0);
    return cudnnConvolutionBackwardFilter(h, one.get(), p.x.get(), b.x, p.y.get(), b.y, p.conv.get(), algo, workspace,
                                          bytes, zero.get(), p.weight.get(), b.out);
  }
};

// One way to run a pass: an algorithm, the math type it runs with, the workspace it needs then, and whether it
// gives the same bits on every run.
struct Candidate {
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  std::size_t workspace = 0;
  cudnnDeterminism_t determinism = CUDNN_NON_DETERMINISTIC;
};

// What cuDNN's documentation says of the fall-back algorithms edat appends itself (the ranked ones carry cuDNN's
// own perf entry): ALGO_0 of the backward passes adds with atomics, the others are deterministic.
template <class P>
cudnnDeterminism_t determinism_of_fallback(typename P::Algo algo) {
  return algo == P::no_workspace && P::pass != kForward ? CUDNN_NON_DETERMINISTIC : CUDNN_DETERMINISTIC;
}

// Everything that changes the choice of algorithm (the layout is always packed NCHW for now).
using ConvKey = std::vector<std::int64_t>;

ConvKey make_key(Pass pass, const ConvProblem& p) {
  const Conv2dOptions& o = p.options;
  const auto dtype = static_cast<std::int64_t>(p.dtype);
  const std::int64_t settings[] = {pass,     p.device,   dtype,      CUDNN_TENSOR_NCHW, p.math,
                                   o.pad_h,  o.pad_w,    o.stride_h, o.stride_w,        o.dilation_h,
                                   o.dilation_w, o.groups, deterministic()};
  ConvKey key(std::begin(settings), std::end(settings));
  key.reserve(key.size() + 12);
  for (const Shape* shape : {&p.x_shape, &p.weight_shape, &p.y_shape}) {
    key.insert(key.end(), shape->begin(), shape->end());
  }
  return key;
}

struct AlgorithmCache {
  std::mutex mutex;
  std::map<ConvKey, std::vector<Candidate>> ranked;
};

AlgorithmCache& algorithm_cache() {
  static auto* cache = new AlgorithmCache;
  return *cache;
}

std::string describe(const ConvProblem& p) {
  const Conv2dOptions& o = p.options;
  std::ostringstream out;
  out << "x " << dtype_name(p.dtype) << shape_str(p.x_shape) << ", weight " << shape_str(p.weight_shape) << ", y "
      << shape_str(p.y_shape) << " on cuda:" << p.device << ", stride " << o.stride_h << "x" << o.stride_w
      << ", padding " << o.pad_h << "x" << o.pad_w << ", dilation " << o.dilation_h << "x" << o.dilation_w
      << ", groups " << o.groups;
  return out.str();
}

// The statuses after which the next candidate is tried (cudnn_status.h): this algorithm cannot run here. An
// environment fault (old driver, NVRTC or a sub-library missing) is thrown instead, whatever the candidate.
bool is_not_supported(cudnnStatus_t status) {
  return classify_cudnn_status(status) == CudnnFault::algorithm_unavailable;
}

// The caching allocator reports an exhausted device with an edat::Error "CUDA out of memory on cuda:N ...".
bool is_out_of_memory(const Error& error) { return std::strstr(error.what(), "out of memory") != nullptr; }

// The math type a candidate runs with: exact fp32 stays FMA whatever the perf entry says; a conversion of fp32
// data to fp16 is never allowed (TF32 tensor ops at most).
cudnnMathType_t candidate_math(const ConvProblem& p, cudnnMathType_t suggested) {
  if (p.dtype == DType::f32 && !tf32_allowed()) return CUDNN_FMA_MATH;
  if (suggested == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return CUDNN_TENSOR_OP_MATH;
  return suggested;
}

// Appends (algo, math) unless already listed or cuDNN cannot tell its workspace (then it cannot run here).
template <class P>
void add_candidate(cudnnHandle_t h, const ConvProblem& p, int algo, cudnnMathType_t math,
                   cudnnDeterminism_t determinism, std::vector<Candidate>& out) {
  for (const Candidate& c : out) {
    if (c.algo == algo && c.math == math) return;
  }
  p.conv.set_math_type(math);
  std::size_t bytes = 0;
  const cudnnStatus_t status = P::workspace_size(h, p, static_cast<typename P::Algo>(algo), &bytes);
  const CudnnFault fault = classify_cudnn_status(status);
  if (fault == CudnnFault::none) {
    out.push_back({algo, math, bytes, determinism});
  } else if (fault != CudnnFault::algorithm_unavailable && fault != CudnnFault::bad_param) {
    throw_cudnn_error(status, "cudnnGetConvolution*WorkspaceSize", __FILE__, __LINE__);
  }
}

// The largest workspace any algorithm of the pass asks for (for a benchmarked search), at most kMaxFindWorkspace.
template <class P>
std::size_t largest_workspace(cudnnHandle_t h, const ConvProblem& p) {
  int count = 0;
  EDAT_CUDNN_CHECK(P::max_count(h, &count));
  std::size_t most = 0;
  for (int algo = 0; algo < count; ++algo) {
    std::size_t bytes = 0;
    if (P::workspace_size(h, p, static_cast<typename P::Algo>(algo), &bytes) == CUDNN_STATUS_SUCCESS) {
      most = std::max(most, bytes);
    }
  }
  return std::min(most, kMaxFindWorkspace);
}

// Times every algorithm on the actual tensors (cudnnFind*AlgorithmEx) with the largest workspace that can be
// allocated, halving it while memory runs out. Returns how many perf entries were filled.
template <class P>
int benchmark_algorithms(cudnnHandle_t h, const ConvProblem& p, const Buffers& b, std::vector<typename P::Perf>& perf) {
  std::size_t bytes = largest_workspace<P>(h, p);
  std::optional<DeviceBuffer> workspace;
  while (bytes > 0 && !workspace) {
    try {
      workspace.emplace(bytes, p.device);
    } catch (const Error& e) {
      if (!is_out_of_memory(e)) throw;
      bytes /= 2;
    }
  }
  int returned = 0;
  EDAT_CUDNN_CHECK(P::find(h, p, b, static_cast<int>(perf.size()), &returned, perf.data(),
                           workspace ? workspace->data() : nullptr, workspace ? bytes : 0));
  return returned;
}

// The candidates of a pass, best first: ranked by cuDNN's heuristics, or by timing with EDAT_CUDNN_BENCHMARK=1;
// always including one that needs no workspace. In deterministic mode (tensor/determinism.h) only deterministic
// ones, ending with P::deterministic_fallback.
template <class P>
std::vector<Candidate> rank_candidates(cudnnHandle_t h, const ConvProblem& p, const Buffers& b) {
  int count = 0;
  EDAT_CUDNN_CHECK(P::max_count(h, &count));
  std::vector<typename P::Perf> perf(static_cast<std::size_t>(std::max(count, 1)));
  p.conv.set_math_type(p.math);
  int returned = 0;
  if (benchmark_enabled()) {
    returned = benchmark_algorithms<P>(h, p, b, perf);
  } else {
    EDAT_CUDNN_CHECK(P::heuristics(h, p, static_cast<int>(perf.size()), &returned, perf.data()));
  }
  const bool only_deterministic = deterministic();
  std::vector<Candidate> candidates;
  for (int i = 0; i < returned; ++i) {
    const typename P::Perf& entry = perf[static_cast<std::size_t>(i)];
    if (classify_cudnn_status(entry.status) == CudnnFault::environment) {
      throw_cudnn_error(entry.status, (std::string(P::name) + ": ranking algorithms for " + describe(p)).c_str(),
                        __FILE__, __LINE__);
    }
    if (entry.status != CUDNN_STATUS_SUCCESS) continue;
    if (only_deterministic && entry.determinism != CUDNN_DETERMINISTIC) continue;
    add_candidate<P>(h, p, static_cast<int>(entry.algo), candidate_math(p, entry.mathType), entry.determinism,
                     candidates);
  }
  if (only_deterministic) {
    add_candidate<P>(h, p, static_cast<int>(P::deterministic_fallback), p.math, CUDNN_DETERMINISTIC, candidates);
  } else {
    const bool has_no_workspace_candidate =
        std::any_of(candidates.begin(), candidates.end(), [](const Candidate& c) { return c.workspace == 0; });
    if (!has_no_workspace_candidate) {
      add_candidate<P>(h, p, static_cast<int>(P::no_workspace), p.math, determinism_of_fallback<P>(P::no_workspace),
                       candidates);
    }
  }
  EDAT_CHECK(!candidates.empty(), P::name << ": cuDNN offers no algorithm for " << describe(p)
                                          << (only_deterministic ? " in deterministic mode" : ""));
  return candidates;
}

const char* math_name(cudnnMathType_t math) {
  switch (math) {
    case CUDNN_FMA_MATH:
      return "FMA (exact fp32)";
    case CUDNN_DEFAULT_MATH:
      return "default";
    case CUDNN_TENSOR_OP_MATH:
      return "tensor ops";
    default:
      return "tensor ops with conversion";
  }
}

// EDAT_CUDNN_VERBOSE=1: one line per geometry and pass when its algorithm is chosen (or changes).
template <class P>
void log_choice(const ConvProblem& p, const Candidate& c, std::size_t rank, std::size_t of) {
  std::fprintf(stderr, "edat cuDNN: %s for %s: algorithm %d (candidate %zu of %zu), math %s, workspace %zu bytes, %s\n",
               P::name, describe(p).c_str(), c.algo, rank + 1, of, math_name(c.math), c.workspace,
               c.determinism == CUDNN_DETERMINISTIC ? "deterministic" : "non-deterministic");
}

// Runs pass P with the first candidate that can run, caching the ranking and promoting the one that ran.
template <class P>
void run_pass(const ConvProblem& p, const Buffers& b) {
  cudnnHandle_t h = cudnn_handle(p.device);
  const ConvKey key = make_key(P::pass, p);
  AlgorithmCache& cache = algorithm_cache();
  std::vector<Candidate> candidates;
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto found = cache.ranked.find(key);
    if (found != cache.ranked.end()) candidates = found->second;
  }
  const bool fresh = candidates.empty();
  if (fresh) {
    candidates = rank_candidates<P>(h, p, b);  // outside the lock: a benchmarked search runs kernels
    std::lock_guard<std::mutex> lock(cache.mutex);
    cache.ranked.try_emplace(key, candidates);
  }

  std::ostringstream skipped;  // why each candidate did not run, for the error below
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const Candidate& c = candidates[i];
    std::optional<DeviceBuffer> workspace;
    if (c.workspace > 0) {
      try {
        workspace.emplace(c.workspace, p.device);
      } catch (const Error& e) {
        if (!is_out_of_memory(e)) throw;
        skipped << "; algorithm " << c.algo << ": no memory for its " << c.workspace << "-byte workspace";
        continue;
      }
    }
    p.conv.set_math_type(c.math);
    const cudnnStatus_t status =
        P::run(h, p, b, static_cast<typename P::Algo>(c.algo), workspace ? workspace->data() : nullptr, c.workspace);
    if (status == CUDNN_STATUS_SUCCESS) {
      if (verbose() && (fresh || i > 0)) log_choice<P>(p, c, i, candidates.size());
      if (i > 0) {  // later calls with this key try this one first
        std::lock_guard<std::mutex> lock(cache.mutex);
        std::vector<Candidate>& ranked = cache.ranked[key];
        auto it = std::find_if(ranked.begin(), ranked.end(),
                               [&](const Candidate& r) { return r.algo == c.algo && r.math == c.math; });
        if (it != ranked.end()) std::rotate(ranked.begin(), it, it + 1);
      }
      return;
    }
    if (!is_not_supported(status)) {
      throw_cudnn_error(status, (std::string(P::name) + " for " + describe(p)).c_str(), __FILE__, __LINE__);
    }
    skipped << "; algorithm " << c.algo << ": " << cudnnGetErrorString(status);
  }
  // cuDNN's legacy API runs f64 through fewer engines than f32 (docs/ARCHITECTURE.md): say so in the words tests
  // recognise, so that an f64 CUDA test skips on cuDNN's limit instead of failing.
  const std::string lead = p.dtype == DType::f64 ? std::string(kCudnnHasNoF64Engine) + ": " : std::string();
  throw Error(lead + P::name + ": no cuDNN algorithm could run " + describe(p) + skipped.str());
}

}  // namespace

void convolution_forward(const ConvProblem& problem, const void* x, const void* weight, void* y) {
  run_pass<ForwardPass>(problem, Buffers{x, weight, nullptr, y});
}

void convolution_backward_data(const ConvProblem& problem, const void* weight, const void* dy, void* dx) {
  run_pass<BackwardDataPass>(problem, Buffers{nullptr, weight, dy, dx});
}

void convolution_backward_filter(const ConvProblem& problem, const void* x, const void* dy, void* dweight) {
  run_pass<BackwardFilterPass>(problem, Buffers{x, nullptr, dy, dweight});
}

}  // namespace edat::nn::cuda_impl
