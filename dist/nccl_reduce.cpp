// NCCL for CUDA tensors (unverified: this machine has no GPU; it compiles and links against the CUDA toolkit's NCCL).
// One communicator per process over the MPI job, on the GPU the trainer chose (cuda:<local rank>); reductions run
// on edat's stream (tensor/cuda/cuda_check.h), so they follow the backward kernels that made the gradients, and an
// event after each tells when it is done.
//
// NCCL is loaded on first use (as cuBLAS, tensor/cuda/cublas_on_demand.cpp): libnccl is over 200 MB, and a CPU run,
// or a GPU run of one process, never needs it. Looked for by its soname, then in the CUDA toolkit this build used.
#include <dlfcn.h>
#include <nccl.h>

#include <chrono>
#include <string>
#include <thread>

#include "dist/mpi_world.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/error.h"

namespace edat::dist {

namespace {

// The NCCL functions edat calls, looked up in the library (their types from nccl.h).
struct NcclLibrary {
  decltype(&ncclGetUniqueId) get_unique_id;
  decltype(&ncclCommInitRank) comm_init_rank;
  decltype(&ncclAllReduce) all_reduce;
  decltype(&ncclCommAbort) comm_abort;
  decltype(&ncclGetErrorString) error_string;
};

const NcclLibrary& library() {
  static const NcclLibrary library = [] {
    const std::string soname = "libnccl.so." + std::to_string(NCCL_MAJOR);
    void* handle = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) handle = dlopen((std::string(EDAT_NCCL_DIR) + "/" + soname).c_str(), RTLD_NOW | RTLD_LOCAL);
    EDAT_CHECK(handle != nullptr, "cannot load NCCL (" << soname << ", also looked for in " << EDAT_NCCL_DIR
                                                       << "): " << dlerror() << "; put its folder on LD_LIBRARY_PATH");
    auto find = [&](const char* name) {
      void* symbol = dlsym(handle, name);
      EDAT_CHECK(symbol != nullptr, "NCCL has no function " << name << ": " << dlerror());
      return symbol;
    };
    return NcclLibrary{reinterpret_cast<decltype(&ncclGetUniqueId)>(find("ncclGetUniqueId")),
                       reinterpret_cast<decltype(&ncclCommInitRank)>(find("ncclCommInitRank")),
                       reinterpret_cast<decltype(&ncclAllReduce)>(find("ncclAllReduce")),
                       reinterpret_cast<decltype(&ncclCommAbort)>(find("ncclCommAbort")),
                       reinterpret_cast<decltype(&ncclGetErrorString)>(find("ncclGetErrorString"))};
  }();
  return library;
}

#define EDAT_NCCL_CHECK(expr)                                                                          \
  do {                                                                                                 \
    const ncclResult_t edat_nccl_result_ = (expr);                                                     \
    if (edat_nccl_result_ != ncclSuccess)                                                              \
      throw Error(std::string("NCCL error: ") + #expr + " failed: " + library().error_string(edat_nccl_result_)); \
  } while (false)

struct NcclComm {
  ncclComm_t comm = nullptr;
  int device = -1;
};

NcclComm& nccl_comm(Communicator& mpi, int device) {
  static NcclComm shared;
  if (shared.comm != nullptr) {
    EDAT_CHECK(shared.device == device, "NCCL: gradients on cuda:" << device << ", but this process's NCCL "
                                                                    << "communicator is on cuda:" << shared.device);
    return shared;
  }
  ncclUniqueId id{};
  if (mpi.rank() == 0) EDAT_NCCL_CHECK(library().get_unique_id(&id));
  mpi.broadcast(&id, sizeof id, 0, "the NCCL unique id");
  cuda_impl::DeviceGuard guard(device);
  EDAT_NCCL_CHECK(library().comm_init_rank(&shared.comm, mpi.size(), id, mpi.rank()));
  shared.device = device;
  return shared;
}

class NcclPending final : public PendingReduction {
 public:
  NcclPending(Communicator& mpi, ncclComm_t comm, const char* what) : mpi_(mpi), comm_(comm), what_(what) {
    EDAT_CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
  }
  ~NcclPending() override { (void)cudaEventDestroy(done_); }
  cudaEvent_t event() const { return done_; }
  bool test() override {
    const cudaError_t state = cudaEventQuery(done_);
    if (state == cudaErrorNotReady) return false;
    EDAT_CUDA_CHECK(state);
    return true;
  }
  void wait() override {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(mpi_.timeout());
    while (!test()) {
      if (std::chrono::steady_clock::now() > deadline) {
        (void)library().comm_abort(comm_);
        mpi_.abort(std::string(what_) + " (NCCL) did not complete in time (--dist-timeout): another process has "
                                        "died or stopped responding");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }

 private:
  Communicator& mpi_;
  ncclComm_t comm_;
  const char* what_;
  cudaEvent_t done_ = nullptr;
};

}  // namespace

std::unique_ptr<PendingReduction> nccl_start_sum(Communicator& mpi, const Tensor& buffer, const char* what) {
  const int device = buffer.device().index;
  NcclComm& nccl = nccl_comm(mpi, device);
  cuda_impl::DeviceGuard guard(device);
  auto pending = std::make_unique<NcclPending>(mpi, nccl.comm, what);
  EDAT_NCCL_CHECK(library().all_reduce(buffer.raw_data(), buffer.raw_data(), static_cast<std::size_t>(buffer.numel()),
                                buffer.dtype() == DType::f32 ? ncclFloat32 : ncclFloat64, ncclSum, nccl.comm,
                                cuda_impl::current_stream()));
  EDAT_CUDA_CHECK(cudaEventRecord(pending->event(), cuda_impl::current_stream()));
  return pending;
}

}  // namespace edat::dist
