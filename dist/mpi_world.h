// Inside dist/: the MPI communicator (built with EDAT_HAS_MPI) and the NCCL reduction of CUDA buffers it hands
// CUDA tensors to (built with EDAT_HAS_NCCL).
#pragma once
#include <functional>
#include <memory>

#include "dist/communicator.h"

namespace edat::dist {

#ifdef EDAT_HAS_MPI
std::unique_ptr<Communicator> make_mpi_world();
#endif

#ifdef EDAT_HAS_NCCL
// Sums a CUDA buffer across the job with NCCL on edat's stream. The NCCL communicator is made on first use: rank 0's
// unique id reaches the others through `broadcast` (MPI); `abort` ends the job when a reduction times out.
std::unique_ptr<PendingReduction> nccl_start_sum(Communicator& mpi, const Tensor& buffer, const char* what);
#endif

}  // namespace edat::dist
