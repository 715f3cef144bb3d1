// dist/: the communicator's collectives, the gradient buckets (GradientReducer), the differentiable all-reduce and
// synchronised batch norm. Every test holds for any number of processes: ctest runs this binary alone (a single
// process) and under `mpirun -np 2` (real MPI reductions) when OpenMPI is installed.
#include <gtest/gtest.h>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "dist/communicator.h"
#include "dist/gradient_reducer.h"
#include "layers/functional.h"
#include "tensor/backend.h"
#include "tensor/factory.h"
#include "tests/test_util.h"

using namespace edat;
using edat::testing::all_close;

namespace {

dist::Communicator& comm() { return dist::world(); }
double triangle(int n) { return n * (n + 1) / 2.0; }  // sum over ranks of rank + 1

TEST(Communicator, CollectivesSeeEveryProcess) {
  const int n = comm().size(), r = comm().rank();
  EXPECT_EQ(n, std::max(dist::launcher_world_size(), 1));
  ASSERT_LT(r, n);
  EXPECT_EQ(comm().sum(r + 1, "test sum"), triangle(n));
  std::vector<double> extremes{static_cast<double>(r), static_cast<double>(r)};
  comm().all_reduce(extremes, dist::ReduceOp::max, "test max");
  EXPECT_EQ(extremes[0], n - 1);
  comm().all_reduce(extremes, dist::ReduceOp::min, "test min");
  EXPECT_EQ(extremes[0], n - 1);  // already the max everywhere
  // Lengths differ by rank: rank r sends r + 1 copies of r.
  const std::vector<double> gathered = comm().all_gather(std::vector<double>(static_cast<std::size_t>(r + 1), r), "test gather");
  std::vector<double> expected;
  for (int k = 0; k < n; ++k) expected.insert(expected.end(), static_cast<std::size_t>(k + 1), k);
  EXPECT_EQ(gathered, expected);
  std::string text = r == 0 ? "rank 0's settings" : "";
  comm().broadcast(text, 0, "test broadcast");
  EXPECT_EQ(text, "rank 0's settings");
  Tensor t = full({3}, r == 0 ? 7.0 : -1.0);
  comm().broadcast(t, 0, "test tensor broadcast");
  EXPECT_EQ(t.to_vector<double>(), (std::vector<double>{7, 7, 7}));
  EXPECT_TRUE(comm().any(r == n - 1, "test any"));
  EXPECT_FALSE(comm().any(false, "test any"));
}

// Buckets of 16 bytes (several), one parameter no gradient reaches (zeros), gradients summed over processes and
// written back into .grad; a second step reuses the buckets.
TEST(GradientReducer, SumsEveryGradientOverTheProcesses) {
  const int n = comm().size(), r = comm().rank();
  Tensor a = full({3}, 1.0, {.requires_grad = true});
  Tensor b = from_vector({1.0, 2.0, 3.0, 4.0}, Shape{2, 2}, {.requires_grad = true});
  Tensor unused = full({2}, 5.0, {.requires_grad = true});
  dist::GradientReducer reducer(comm(), {a, b, unused}, 16);
  EXPECT_EQ(reducer.buckets(), 3u);
  for (int step = 0; step < 2; ++step) {
    for (Tensor* p : {&a, &b, &unused}) p->zero_grad();
    {
      const auto hook = reducer.hook();
      sum(a * static_cast<double>(r + 1) + sum(b * b)).backward();
    }
    reducer.finish();
    EXPECT_TRUE(all_close(a.grad(), std::vector<double>(3, triangle(n)), 0)) << "step " << step;
    EXPECT_TRUE(all_close(b.grad(), {2.0 * 3 * n, 4.0 * 3 * n, 6.0 * 3 * n, 8.0 * 3 * n}, 1e-6)) << "step " << step;
    ASSERT_TRUE(unused.grad().defined());
    EXPECT_EQ(unused.grad().to_vector<double>(), (std::vector<double>{0, 0}));
  }
}

// The same through NCCL on the GPUs: one process per GPU, cuda:<local rank> (needs as many GPUs on each machine as
// processes there; NCCL does not share a GPU between processes of one communicator). Unverified: no GPU here.
TEST(GradientReducer, SumsCudaGradientsThroughNccl) {
  if (!comm().distributed()) GTEST_SKIP() << "one process: no reduction to make (run under mpirun -np 2 with 2 GPUs)";
  if (!cuda::is_available() || cuda::device_count() <= comm().local_rank())
    GTEST_SKIP() << "needs a GPU per process: " << (cuda::is_available() ? "too few GPUs" : cuda::unavailable_reason());
  const int n = comm().size(), r = comm().rank();
  const Device gpu = Device::cuda(comm().local_rank());
  Tensor a = full({1000}, 1.0, {.device = gpu, .requires_grad = true});
  dist::GradientReducer reducer(comm(), {a});
  {
    const auto hook = reducer.hook();
    sum(a * static_cast<double>(r + 1)).backward();
  }
  reducer.finish();
  EXPECT_TRUE(all_close(a.grad().cpu(), std::vector<double>(1000, triangle(n)), 0));
}

// y = sum over processes of x; each process's loss is y (rank + 1), so dx = sum over processes of (rank + 1).
TEST(AllReduceSum, ItsGradientIsSummedOverTheProcessesToo) {
  const int n = comm().size(), r = comm().rank();
  Tensor x = full({2}, r + 1.0, {.requires_grad = true});
  Tensor y = dist::all_reduce_sum(x, comm());
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>(2, triangle(n))));
  sum(y * static_cast<double>(r + 1)).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>(2, triangle(n))));
}

// --sync-bn: each process normalises its slice of one batch with the whole batch's statistics. The outputs, the
// running statistics and (summed over processes) the gradients equal the single-process kernel's on the whole batch.
TEST(SyncBatchNorm, EqualsOneProcessOnTheWholeBatch) {
  const int n = comm().size(), r = comm().rank();
  const std::int64_t per = 3, C = 4, H = 2, W = 3, N = per * n;
  Generator g(11);
  const Tensor whole = uniform({N, C, H, W}, -2, 3, g), upstream = uniform({N, C, H, W}, -1, 1, g);
  const Tensor weight0 = uniform({C}, 0.5, 1.5, g), bias0 = uniform({C}, -0.5, 0.5, g);
  auto run = [&](const Tensor& input, const Tensor& up, bool synchronised) {
    Tensor x = input.clone().set_requires_grad(true);
    Tensor w = weight0.clone().set_requires_grad(true), b = bias0.clone().set_requires_grad(true);
    Tensor mean = zeros({C}), var = ones({C});
    if (synchronised) nn::set_batch_norm_sync([](const Tensor& t) { return dist::all_reduce_sum(t, comm()); });
    Tensor y = nn::batch_norm(x, w, b, mean, var, true, 0.1, 1e-5);
    nn::set_batch_norm_sync({});
    if (synchronised) nn::set_batch_norm_sync([](const Tensor& t) { return dist::all_reduce_sum(t, comm()); });
    sum(y * up).backward();
    nn::set_batch_norm_sync({});
    return std::vector<Tensor>{y, x.grad(), w.grad(), b.grad(), mean, var};
  };
  const std::vector<Tensor> expected = run(whole, upstream, false);
  // This process's slice: rows [r per, (r + 1) per) of the batch.
  auto slice = [&](const Tensor& t) {
    const std::vector<double> all = t.to_vector<double>();
    const std::size_t row = static_cast<std::size_t>(C * H * W);
    return from_vector(std::vector<double>(all.begin() + static_cast<std::ptrdiff_t>(r * per * row),
                                           all.begin() + static_cast<std::ptrdiff_t>((r + 1) * per * row)),
                       Shape{per, C, H, W});
  };
  std::vector<Tensor> got = run(slice(whole), slice(upstream), true);
  for (int k : {2, 3}) comm().all_reduce_sum(got[static_cast<std::size_t>(k)], "test gradient sum");
  EXPECT_TRUE(all_close(got[0], slice(expected[0]), 1e-4, 1e-5)) << "output";
  EXPECT_TRUE(all_close(got[1], slice(expected[1]), 1e-4, 1e-5)) << "input gradient";
  EXPECT_TRUE(all_close(got[2], expected[2], 1e-4, 1e-5)) << "weight gradient";
  EXPECT_TRUE(all_close(got[3], expected[3], 1e-4, 1e-5)) << "bias gradient";
  EXPECT_TRUE(all_close(got[4], expected[4], 1e-5, 1e-6)) << "running mean";
  EXPECT_TRUE(all_close(got[5], expected[5], 1e-5, 1e-6)) << "running variance";
}

}  // namespace
