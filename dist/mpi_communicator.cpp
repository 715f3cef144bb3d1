// The MPI communicator: MPI_COMM_WORLD, initialised on first use (MPI_THREAD_FUNNELED: only the training thread
// calls MPI) and finalised at exit. Every collective is nonblocking underneath and waited for by polling
// MPI_Test against the timeout, which also drives MPI's progress for reductions in flight during backward.
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "dist/mpi_world.h"
#include "tensor/error.h"

namespace edat::dist {

namespace {

MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::sum ? MPI_SUM : op == ReduceOp::max ? MPI_MAX : MPI_MIN; }

class MpiWorld;

// Polls `request` until done; past the timeout, the job is aborted with a message naming the collective.
void wait_or_abort(MpiWorld& world, MPI_Request& request, const char* what);

class MpiPending final : public PendingReduction {
 public:
  MpiPending(MpiWorld& world, const char* what) : world_(world), what_(what) {}
  MPI_Request request = MPI_REQUEST_NULL;
  bool test() override {
    int done = 0;
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    return done != 0;
  }
  void wait() override { wait_or_abort(world_, request, what_); }

 private:
  MpiWorld& world_;
  const char* what_;
};

class MpiWorld final : public Communicator {
 public:
  MpiWorld() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    }
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    MPI_Comm local;  // the processes sharing this machine's memory: the local rank picks the GPU
    MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_free(&local);
  }
  ~MpiWorld() override {
    MPI_Comm_free(&comm_);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }

  void all_reduce(std::vector<double>& values, ReduceOp op, const char* what) override {
    MPI_Request request;
    check(MPI_Iallreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, mpi_op(op), comm_,
                         &request),
          what);
    wait_or_abort(*this, request, what);
  }
  void broadcast(void* bytes, std::size_t size, int root, const char* what) override {
    MPI_Request request;
    check(MPI_Ibcast(bytes, static_cast<int>(size), MPI_BYTE, root, comm_, &request), what);
    wait_or_abort(*this, request, what);
  }
  std::vector<double> all_gather(const std::vector<double>& mine, const char* what) override {
    std::vector<double> counts{static_cast<double>(mine.size())};
    std::vector<int> sizes(static_cast<std::size_t>(size_)), offsets(static_cast<std::size_t>(size_));
    const int count = static_cast<int>(mine.size());
    MPI_Request request;
    check(MPI_Iallgather(&count, 1, MPI_INT, sizes.data(), 1, MPI_INT, comm_, &request), what);
    wait_or_abort(*this, request, what);
    int total = 0;
    for (int r = 0; r < size_; ++r) offsets[static_cast<std::size_t>(r)] = total, total += sizes[static_cast<std::size_t>(r)];
    std::vector<double> all(static_cast<std::size_t>(total));
    check(MPI_Iallgatherv(mine.data(), count, MPI_DOUBLE, all.data(), sizes.data(), offsets.data(), MPI_DOUBLE, comm_,
                          &request),
          what);
    wait_or_abort(*this, request, what);
    return all;
  }
  std::unique_ptr<PendingReduction> start_sum(const Tensor& buffer, const char* what) override {
    EDAT_CHECK(buffer.dtype() == DType::f32 || buffer.dtype() == DType::f64,
               what << ": only f32 and f64 tensors are reduced, got " << buffer.desc());
    if (buffer.device().is_cuda()) {
#ifdef EDAT_HAS_NCCL
      return nccl_start_sum(*this, buffer, what);
#else
      throw Error(std::string(what) + ": " + buffer.desc() + " is on a GPU, and this edat was built without NCCL");
#endif
    }
    auto pending = std::make_unique<MpiPending>(*this, what);
    check(MPI_Iallreduce(MPI_IN_PLACE, buffer.raw_data(), static_cast<int>(buffer.numel()),
                         buffer.dtype() == DType::f32 ? MPI_FLOAT : MPI_DOUBLE, MPI_SUM, comm_, &pending->request),
          what);
    return pending;
  }
  [[noreturn]] void abort(const std::string& message) override {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: %s; ending all %d processes\n", who().c_str(), message.c_str(), size_);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  }

 private:
  void check(int code, const char* what) {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    abort(std::string(what) + ": MPI error: " + std::string(text, static_cast<std::size_t>(length)));
  }
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

void wait_or_abort(MpiWorld& world, MPI_Request& request, const char* what) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::duration<double>(world.timeout());
  for (int polls = 0;; ++polls) {
    int done = 0;
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done) return;
    if (clock::now() > deadline) {
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%g", world.timeout());
      world.abort(std::string(what) + " did not complete within " + seconds +
                  " s (--dist-timeout): another process has died or stopped responding");
    }
    // Spin briefly (a reduction on this machine takes microseconds), then give the core to the others.
    if (polls > 100) std::this_thread::sleep_for(std::chrono::microseconds(polls > 10000 ? 1000 : 20));
  }
}

}  // namespace

std::unique_ptr<Communicator> make_mpi_world() { return std::make_unique<MpiWorld>(); }

}  // namespace edat::dist
