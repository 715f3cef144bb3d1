#include "dist/communicator.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "dist/mpi_world.h"
#include "tensor/error.h"

namespace edat::dist {

namespace {

// One process: every collective already has its result.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  void all_reduce(std::vector<double>&, ReduceOp, const char*) override {}
  void broadcast(void*, std::size_t, int, const char*) override {}
  std::vector<double> all_gather(const std::vector<double>& mine, const char*) override { return mine; }
  std::unique_ptr<PendingReduction> start_sum(const Tensor&, const char*) override {
    struct Done final : PendingReduction {
      bool test() override { return true; }
      void wait() override {}
    };
    return std::make_unique<Done>();
  }
  [[noreturn]] void abort(const std::string& message) override {
    std::fflush(stdout);
    std::fprintf(stderr, "%s\n", message.c_str());
    std::exit(1);
  }
};

int env_int(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::atoi(value) : 0;
}

std::unique_ptr<Communicator> make_world() {
  const int launched = launcher_world_size();
  if (launched == 0) return std::make_unique<SingleProcess>();
#ifdef EDAT_HAS_MPI
  return make_mpi_world();
#else
  EDAT_CHECK(launched == 1, "this edat was built without MPI (EDAT_MPI=OFF, or MPI not found at build time) but was "
                                << "started by a launcher with " << launched << " processes: each would train alone "
                                << "and write the same run folder; rebuild with MPI (libopenmpi-dev) or start one "
                                << "process");
  return std::make_unique<SingleProcess>();
#endif
}

}  // namespace

int launcher_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"})
    if (const int n = env_int(name); n > 0) return n;
  return std::getenv("PMIX_RANK") != nullptr ? 1 : 0;  // PMIx without a size: MPI_Init will say
}

Communicator& world() {
  static const std::unique_ptr<Communicator> communicator = make_world();
  return *communicator;
}

void Communicator::broadcast(Tensor& tensor, int root, const char* what) {
  if (!distributed()) return;
  Tensor host = tensor.device().is_cpu() ? tensor : tensor.cpu();
  broadcast(host.raw_data(), host.nbytes(), root, what);
  if (host.impl_ptr() != tensor.impl_ptr()) tensor.copy_(host.to(tensor.device()));
}

void Communicator::broadcast(std::string& text, int root, const char* what) {
  if (!distributed()) return;
  std::vector<double> length{static_cast<double>(text.size())};
  if (rank() != root) length[0] = 0;
  all_reduce(length, ReduceOp::max, what);
  text.resize(static_cast<std::size_t>(length[0]));
  broadcast(text.data(), text.size(), root, what);
}

void Communicator::all_reduce_sum(Tensor& tensor, const char* what) {
  if (!distributed()) return;
  start_sum(tensor, what)->wait();
}

double Communicator::sum(double value, const char* what) {
  std::vector<double> values{value};
  all_reduce(values, ReduceOp::sum, what);
  return values[0];
}

bool Communicator::any(bool value, const char* what) {
  std::vector<double> values{value ? 1.0 : 0.0};
  all_reduce(values, ReduceOp::max, what);
  return values[0] > 0;
}

}  // namespace edat::dist
