// The autograd engine: gradients from a scalar and with an explicit gradient, accumulation, diamonds, reverse
// topological order, no_grad, detach, and the graph being freed by backward.
#include <cmath>
#include <set>
#include <thread>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/factory.h"
#include "tests/test_util.h"

using namespace edat;
using edat::testing::all_close;
using edat::testing::throws_with;

namespace {
Tensor leaf(const std::vector<double>& values) { return from_vector(values, {.dtype = DType::f64, .requires_grad = true}); }
}  // namespace

TEST(Autograd, BackwardFromScalar) {
  Tensor x = leaf({1, -2, 3});
  Tensor loss = sum(x * x);  // d/dx = 2x
  loss.backward();
  EXPECT_TRUE(all_close(x.grad(), {2, -4, 6}, 0));
  EXPECT_TRUE(x.is_leaf());
  EXPECT_FALSE(loss.is_leaf());
  EXPECT_STREQ(loss.grad_fn()->name(), "sum");
}

TEST(Autograd, BackwardWithExplicitGradient) {
  Tensor x = leaf({1, 2, 3});
  Tensor y = x * 3.0;
  y.backward(from_vector({1, 10, 100}, {.dtype = DType::f64}));
  EXPECT_TRUE(all_close(x.grad(), {3, 30, 300}, 0));
}

TEST(Autograd, GradientsAccumulateUntilZeroed) {
  Tensor x = leaf({1, 2});
  sum(x * 2.0).backward();
  sum(x * 3.0).backward();
  EXPECT_TRUE(all_close(x.grad(), {5, 5}, 0));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
  sum(x).backward();
  EXPECT_TRUE(all_close(x.grad(), {1, 1}, 0));
}

TEST(Autograd, AccumulationDoesNotWriteIntoOtherTensors) {
  // add's backward hands the same gradient tensor to both inputs; storing it in a.grad and then accumulating into
  // a.grad in place must not change b.grad.
  Tensor a = leaf({1}), b = leaf({1});
  Tensor s = a + b;
  s.backward(from_vector({1.0}, {.dtype = DType::f64}));
  sum(a * 5.0).backward();
  EXPECT_EQ(a.grad().item(), 6);
  EXPECT_EQ(b.grad().item(), 1);
}

TEST(Autograd, DiamondSumsBothPaths) {
  Tensor x = leaf({2});
  Tensor y = x * x + x * 3.0;  // x used by three uses: dy/dx = 2x + 3 = 7
  Tensor z = y * y;           // dz/dx = 2y * 7 = 2 * 10 * 7
  z.backward(ones_like(z));
  EXPECT_EQ(x.grad().item(), 140);
}

TEST(Autograd, ReverseTopologicalOrderWithPathsOfUnequalLength) {
  // b feeds d directly and through c; b's gradient must be complete (both paths) before it flows on to a.
  Tensor a = leaf({1.5});
  Tensor b = exp(a);
  Tensor c = b * b * b;  // c = e^(3a)
  Tensor d = b + c;      // dd/da = e^a + 3 e^(3a)
  d.backward(ones_like(d));
  EXPECT_NEAR(a.grad().item(), std::exp(1.5) + 3 * std::exp(4.5), 1e-9);
}

// The GradReadyHook (dist/gradient_reducer.h) hears of each leaf once, after its last contribution: `late` is used
// near the loss and again deep in the graph, so its gradient is complete only after the deeper use has run.
TEST(Autograd, GradReadyHookReportsEachLeafOnceItsGradientIsComplete) {
  Tensor early = leaf({2}), late = leaf({3}), unused_branch = leaf({5});
  std::vector<std::pair<TensorImpl*, double>> reports;
  {
    autograd::GradReadyHook hook([&](TensorImpl& t) {
      reports.emplace_back(&t, t.grad.defined() ? t.grad.item() : NAN);
    });
    Tensor deep = exp(late * early);             // late's deep use
    Tensor y = deep * late + unused_branch * 0.0;  // and its shallow one
    y.backward(ones_like(y));
  }
  ASSERT_EQ(reports.size(), 3u);
  std::set<TensorImpl*> distinct;
  for (const auto& [impl, value] : reports) {
    distinct.insert(impl);
    EXPECT_EQ(value, impl->grad.item());  // nothing was added after the report
  }
  EXPECT_EQ(distinct.size(), 3u);
  EXPECT_NEAR(late.grad().item(), std::exp(6.0) * (1 + 6.0), 1e-6);
  // Without a hook, backward reports nothing (the hook's scope has ended).
  sum(late * 2.0).backward();
  EXPECT_EQ(reports.size(), 3u);
}

TEST(Autograd, BackwardOfALeaf) {
  Tensor x = leaf({4});
  x.backward();
  EXPECT_EQ(x.grad().item(), 1);
}

TEST(Autograd, OnlyInputsThatRequireGradGetOne) {
  Tensor x = leaf({1, 2});
  Tensor c = from_vector({3, 4}, {.dtype = DType::f64});
  Tensor y = x * c;
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE((c * c).requires_grad());
  EXPECT_EQ((c * c).grad_fn(), nullptr);
  sum(y).backward();
  EXPECT_TRUE(all_close(x.grad(), {3, 4}, 0));
  EXPECT_FALSE(c.grad().defined());
}

TEST(Autograd, NoGradGuard) {
  Tensor x = leaf({1});
  {
    NoGradGuard guard;
    EXPECT_FALSE(is_grad_enabled());
    Tensor y = x * 2.0;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
    {
      NoGradGuard nested;
    }
    EXPECT_FALSE(is_grad_enabled());
  }
  EXPECT_TRUE(is_grad_enabled());
  EXPECT_TRUE((x * 2.0).requires_grad());
}

TEST(Autograd, GradModeIsPerThread) {
  NoGradGuard guard;
  bool other_thread_enabled = false;
  std::thread([&] { other_thread_enabled = is_grad_enabled(); }).join();
  EXPECT_TRUE(other_thread_enabled);
}

TEST(Autograd, DetachCutsTheGraph) {
  Tensor x = leaf({3});
  Tensor y = x * x;
  Tensor d = y.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.raw_data(), y.raw_data());
  Tensor z = y * d;  // only the y path carries a gradient: dz/dx = d * 2x = 9 * 6
  sum(z).backward();
  EXPECT_EQ(x.grad().item(), 54);
}

TEST(Autograd, GraphIsFreedByBackward) {
  Tensor x = leaf({1, 2, 3});
  Tensor h = exp(x);
  std::weak_ptr<Storage> h_storage = h.impl()->storage;
  std::weak_ptr<autograd::Node> h_node = h.grad_fn();
  Tensor loss = sum(h * h);
  h = Tensor();  // only the graph holds h's data now
  EXPECT_FALSE(h_storage.expired());
  loss.backward();
  EXPECT_TRUE(h_storage.expired()) << "saved activations must be released once backward has used them";
  EXPECT_TRUE(h_node.expired());
  EXPECT_TRUE(throws_with([&] { loss.backward(); }, {"already freed"}));
}

TEST(Autograd, DeepChainDoesNotOverflowTheStack) {
  Tensor x = leaf({1});
  Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = y * 1.0;
  y.backward();
  EXPECT_EQ(x.grad().item(), 1);
}

TEST(Autograd, SetRequiresGradOnlyOnLeaves) {
  Tensor x = leaf({1});
  Tensor y = x * 2.0;
  EXPECT_TRUE(throws_with([&] { y.set_requires_grad(false); }, {"only leaves"}));
  EXPECT_TRUE(throws_with([] { zeros({2}, {.dtype = DType::i64}).set_requires_grad(); }, {"not floating point"}));
}

TEST(Autograd, BackwardErrors) {
  Tensor x = leaf({1, 2});
  Tensor y = x * 2.0;
  EXPECT_TRUE(throws_with([&] { y.backward(); }, {"not a scalar", "f64[2] on cpu", "[2]"}));
  EXPECT_TRUE(throws_with([&] { y.backward(ones({3}, {.dtype = DType::f64})); }, {"f64[3]", "f64[2]"}));
  Tensor c = ones({1});
  EXPECT_TRUE(throws_with([&] { c.backward(); }, {"does not require grad"}));
}

TEST(Autograd, BackwardValidatesGradientShapesOfCustomNodes) {
  // A node whose backward returns a wrong shape is reported by name, not silently broadcast.
  Tensor x = leaf({1, 2, 3});
  Tensor y = autograd::record("broken", (x * 1.0).detach(), {x}, [](const Tensor&, const std::vector<bool>&) {
    return std::vector<Tensor>{ones({2}, {.dtype = DType::f64})};
  });
  EXPECT_TRUE(throws_with([&] { sum(y).backward(); }, {"broken", "gradient of input 0"}));
}
