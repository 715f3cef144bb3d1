// Forward values of every primitive op on the CPU, in f32 and f64, against loops written out in the test.
#include <algorithm>
#include <cmath>
#include <functional>

#include "autograd/ops.h"
#include "tensor/factory.h"
#include "tests/test_util.h"

using namespace edat;
using edat::testing::all_close;

namespace {

class OpsTest : public ::testing::TestWithParam<DType> {
 protected:
  Tensor rand(const Shape& shape, double lo = -2, double hi = 2) {
    return uniform(shape, lo, hi, gen_, {.dtype = GetParam()});
  }
  double tol() const { return GetParam() == DType::f32 ? 1e-6 : 1e-14; }
  Generator gen_{5};
};

// Reference broadcasting: element of `t` at output coordinates `coord` (aligned on the right).
double at_broadcast(const std::vector<double>& data, const Shape& shape, const Shape& out, std::int64_t linear) {
  std::int64_t offset = 0, stride = 1;
  for (int d = static_cast<int>(out.size()) - 1; d >= 0; --d) {
    const std::int64_t coordinate = linear % out[d];
    linear /= out[d];
    const int sd = d - static_cast<int>(out.size() - shape.size());
    if (sd >= 0) {
      if (shape[sd] != 1) offset += coordinate * stride;
      stride *= shape[sd];
    }
  }
  return data[static_cast<std::size_t>(offset)];
}

void check_binary(const Tensor& a, const Tensor& b, double tol) {
  const Shape out = broadcast_shapes(a.shape(), b.shape(), "test");
  const auto av = a.to_vector<double>(), bv = b.to_vector<double>();
  const std::vector<std::pair<std::function<Tensor(Tensor, Tensor)>, std::function<double(double, double)>>> cases = {
      {[](Tensor x, Tensor y) { return x + y; }, [](double x, double y) { return x + y; }},
      {[](Tensor x, Tensor y) { return x - y; }, [](double x, double y) { return x - y; }},
      {[](Tensor x, Tensor y) { return x * y; }, [](double x, double y) { return x * y; }},
      {[](Tensor x, Tensor y) { return x / y; }, [](double x, double y) { return x / y; }},
  };
  for (const auto& [op, reference] : cases) {
    Tensor result = op(a, b);
    ASSERT_EQ(result.shape(), out);
    std::vector<double> expected;
    for (std::int64_t i = 0; i < numel(out); ++i)
      expected.push_back(reference(at_broadcast(av, a.shape(), out, i), at_broadcast(bv, b.shape(), out, i)));
    EXPECT_TRUE(all_close(result, expected, tol)) << a.desc() << " with " << b.desc();
  }
}

}  // namespace

TEST_P(OpsTest, BinarySameShape) { check_binary(rand({3, 4}), rand({3, 4}, 0.5, 2), tol()); }
TEST_P(OpsTest, BinaryPerChannelNCHW) { check_binary(rand({2, 3, 4, 5}), rand({1, 3, 1, 1}, 0.5, 2), tol()); }
TEST_P(OpsTest, BinaryChannelVector) { check_binary(rand({3}), rand({2, 3}, 0.5, 2), tol()); }
TEST_P(OpsTest, BinaryOuter) { check_binary(rand({4, 1}), rand({1, 5}, 0.5, 2), tol()); }
TEST_P(OpsTest, BinaryScalarTensor) { check_binary(rand({2, 3}), full({}, 1.5, {.dtype = GetParam()}), tol()); }
TEST_P(OpsTest, BinaryLargeParallel) { check_binary(rand({64, 32, 40}), rand({32, 1}, 0.5, 2), tol()); }

TEST_P(OpsTest, Scalars) {
  Tensor x = rand({5}, 0.5, 2);
  const auto v = x.to_vector<double>();
  std::vector<double> plus, times, rsub, rdiv;
  for (double e : v) {
    plus.push_back(e + 2);
    times.push_back(e * 3);
    rsub.push_back(2 - e);
    rdiv.push_back(2 / e);
  }
  EXPECT_TRUE(all_close(x + 2.0, plus, tol()));
  EXPECT_TRUE(all_close(3.0 * x, times, tol()));
  EXPECT_TRUE(all_close(2.0 - x, rsub, tol()));
  EXPECT_TRUE(all_close(2.0 / x, rdiv, 4 * tol()));
  EXPECT_TRUE(all_close(x - 2.0, (x + -2.0).to_vector<double>(), 0));
}

TEST_P(OpsTest, Unary) {
  Tensor x = rand({2, 50});
  Tensor positive = rand({2, 50}, 0.1, 3);
  const auto v = x.to_vector<double>(), p = positive.to_vector<double>();
  auto expect_map = [&](const Tensor& result, const std::vector<double>& in, double (*f)(double)) {
    std::vector<double> expected;
    for (double e : in) expected.push_back(f(e));
    EXPECT_TRUE(all_close(result, expected, 4 * tol(), tol()));
  };
  expect_map(neg(x), v, [](double e) { return -e; });
  expect_map(abs(x), v, [](double e) { return std::abs(e); });
  expect_map(sign(x), v, [](double e) { return e > 0 ? 1.0 : e < 0 ? -1.0 : 0.0; });
  expect_map(exp(x), v, [](double e) { return std::exp(e); });
  expect_map(log(positive), p, [](double e) { return std::log(e); });
  expect_map(sqrt(positive), p, [](double e) { return std::sqrt(e); });
  expect_map(pow(positive, 2.5), p, [](double e) { return std::pow(e, 2.5); });
  expect_map(pow(x, 2.0), v, [](double e) { return e * e; });
  expect_map(relu(x), v, [](double e) { return e > 0 ? e : 0.0; });
  expect_map(relu6(x * 8.0), v, [](double e) { return std::min(std::max(8 * e, 0.0), 6.0); });  // both kinks
  EXPECT_TRUE(all_close(sign(from_vector({0.0, -0.0}, {.dtype = GetParam()})), {0, 0}, 0));
  expect_map(sigmoid(x), v, [](double e) { return 1 / (1 + std::exp(-e)); });
  expect_map(log_sigmoid(x), v, [](double e) { return -std::log1p(std::exp(-e)); });
}

TEST_P(OpsTest, ReluPropagatesNaNAsPyTorchDoes) {
  // A NaN that became 0 would hide broken weights behind a constant prediction.
  const Tensor x = from_vector({NAN, -INFINITY, INFINITY, -1, 7}, {.dtype = GetParam()});
  const auto r = relu(x).to_vector<double>(), r6 = relu6(x).to_vector<double>();
  EXPECT_TRUE(std::isnan(r[0]));
  EXPECT_TRUE(std::isnan(r6[0]));
  EXPECT_EQ(std::vector<double>(r.begin() + 1, r.end()), (std::vector<double>{0, INFINITY, 0, 7}));
  EXPECT_EQ(std::vector<double>(r6.begin() + 1, r6.end()), (std::vector<double>{0, 6, 0, 6}));
}

TEST_P(OpsTest, SigmoidAndLogSigmoidAtTheExtremes) {
  const Tensor x = from_vector({-1000, -100, -20, 0, 20, 100, 1000}, {.dtype = GetParam()});
  // sigmoid saturates to exactly 0 and 1; log_sigmoid stays finite: ~x for very negative x, ~-e^-x for large x.
  EXPECT_TRUE(
      all_close(sigmoid(x), {0, 0, 1 / (1 + std::exp(20.0)), 0.5, 1 / (1 + std::exp(-20.0)), 1, 1}, 1e-6, 1e-30));
  EXPECT_TRUE(all_close(log_sigmoid(x), {-1000, -100, -20 - std::log1p(std::exp(-20.0)), -std::log(2.0),
                                         -std::log1p(std::exp(-20.0)), -std::exp(-100.0), 0},
                        1e-6, 1e-30));
}

TEST_P(OpsTest, GreaterIsABroadcastingMaskWithoutGradient) {
  const Tensor a = from_vector({0, 1, 2, 3}, {4, 1}, {.dtype = GetParam(), .requires_grad = true});
  const Tensor b = from_vector({0.5, 1, 2.5}, {1, 3}, {.dtype = GetParam()});
  const Tensor mask = greater(a, b);
  EXPECT_EQ(mask.shape(), (Shape{4, 3}));
  EXPECT_EQ(mask.dtype(), GetParam());
  EXPECT_TRUE(all_close(mask, {0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 1}, 0));
  EXPECT_FALSE(mask.requires_grad());
  EXPECT_TRUE(all_close(greater(a, 1.0), {0, 0, 1, 1}, 0));
  EXPECT_TRUE(all_close(greater(from_vector({NAN, 1}, {.dtype = GetParam()}), 0.0), {0, 1}, 0));
}

TEST_P(OpsTest, SumAndMean) {
  Tensor x = rand({2, 3, 4, 5});
  const auto v = x.to_vector<double>();
  double total = 0;
  for (double e : v) total += e;
  EXPECT_EQ(sum(x).dim(), 0);
  EXPECT_NEAR(sum(x).item(), total, 1e-5);
  EXPECT_NEAR(mean(x).item(), total / 120, 1e-6);

  // Over (N, H, W) per channel, as batch norm does, with and without keepdim.
  std::vector<double> per_channel(3, 0);
  for (std::size_t i = 0; i < v.size(); ++i) per_channel[(i / 20) % 3] += v[i];
  Tensor kept = sum(x, {0, 2, 3}, true);
  EXPECT_EQ(kept.shape(), (Shape{1, 3, 1, 1}));
  EXPECT_TRUE(all_close(kept, per_channel, 10 * tol(), tol()));
  EXPECT_EQ(sum(x, {0, -1, 2}).shape(), (Shape{3}));
  std::vector<double> channel_mean;
  for (double s : per_channel) channel_mean.push_back(s / 40);
  EXPECT_TRUE(all_close(mean(x, {0, 2, 3}), channel_mean, 10 * tol(), tol()));

  // One inner dim: rows of a (2, 3, 4, 5) summed over dim 1.
  Tensor over1 = sum(x, {1});
  EXPECT_EQ(over1.shape(), (Shape{2, 4, 5}));
  std::vector<double> expected(40, 0);
  for (std::size_t i = 0; i < v.size(); ++i) expected[(i / 60) * 20 + i % 20] += v[i];
  EXPECT_TRUE(all_close(over1, expected, 10 * tol(), tol()));
}

TEST_P(OpsTest, SumLargeIsAccurate) {
  // 0 + 1 + ... + (n-1), exactly representable in f32: the CPU accumulates in f64.
  const std::int64_t n = 1 << 20;
  Tensor x = arange(0, static_cast<double>(n), 1, {.dtype = GetParam()});
  EXPECT_EQ(sum(x).item(), static_cast<double>(n) * (n - 1) / 2);
}

TEST_P(OpsTest, MaxOverDim) {
  Tensor x = from_vector({1, 5, 5, 2, -1, 0, 7, 7}, {2, 4}, {.dtype = GetParam()});
  MaxResult rows = max(x, 1);
  EXPECT_TRUE(all_close(rows.values, {5, 7}, 0));
  EXPECT_TRUE(all_close(rows.indices, {1, 2}, 0));  // ties keep the first index
  EXPECT_EQ(rows.indices.dtype(), DType::i64);
  MaxResult cols = max(x, 0, true);
  EXPECT_EQ(cols.values.shape(), (Shape{1, 4}));
  EXPECT_TRUE(all_close(cols.values, {1, 5, 7, 7}, 0));
  EXPECT_TRUE(all_close(cols.indices, {0, 0, 1, 1}, 0));
}

TEST_P(OpsTest, MatmulAllTransposes) {
  const std::int64_t m = 7, k = 5, n = 3;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      Tensor a = ta ? rand({k, m}) : rand({m, k});
      Tensor b = tb ? rand({n, k}) : rand({k, n});
      auto A = [&](std::int64_t i, std::int64_t p) { return ta ? a.at({p, i}) : a.at({i, p}); };
      auto B = [&](std::int64_t p, std::int64_t j) { return tb ? b.at({j, p}) : b.at({p, j}); };
      std::vector<double> expected;
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
          double acc = 0;
          for (std::int64_t p = 0; p < k; ++p) acc += A(i, p) * B(p, j);
          expected.push_back(acc);
        }
      Tensor c = matmul(a, b, ta, tb);
      EXPECT_EQ(c.shape(), (Shape{m, n}));
      EXPECT_TRUE(all_close(c, expected, 10 * tol(), tol())) << "ta " << ta << " tb " << tb;
    }
  }
}

TEST_P(OpsTest, TransposeReshapeFlatten) {
  Tensor x = rand({40, 70});
  Tensor t = transpose(x);
  EXPECT_EQ(t.shape(), (Shape{70, 40}));
  EXPECT_EQ(t.at({69, 3}), x.at({3, 69}));
  EXPECT_EQ(t.at({5, 39}), x.at({39, 5}));
  Tensor y = rand({2, 3, 4, 5});
  EXPECT_EQ(flatten(y).shape(), (Shape{120}));
  EXPECT_EQ(flatten(y, 1).shape(), (Shape{2, 60}));
  EXPECT_EQ(flatten(y, 1, 2).shape(), (Shape{2, 12, 5}));
  EXPECT_EQ(reshape(y, {6, -1}).shape(), (Shape{6, 20}));
  EXPECT_EQ(reshape(y, {6, -1}).raw_data(), y.raw_data());
}

TEST_P(OpsTest, ExpandAndSumTo) {
  Tensor x = rand({3, 1});
  Tensor e = expand(x, {2, 3, 4});
  EXPECT_EQ(e.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(e.at({1, 2, 3}), x.at({2, 0}));
  Tensor s = sum_to(e, {3, 1});
  EXPECT_TRUE(all_close(s, (x * 8.0).to_vector<double>(), tol()));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, OpsTest, ::testing::Values(DType::f32, DType::f64),
                         [](const auto& param_info) { return std::string(dtype_name(param_info.param)); });
