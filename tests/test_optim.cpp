// Optimisers and schedules against hand-computed values.
#include <catch2/catch.hpp>

#include <cmath>

#include "unigen/unigen.hpp"

using namespace unigen;

TEST_CASE("AdamW's first step matches the formula", "[optim]") {
  auto p = Tensor<double>::from_vector(std::vector<double>{1.0, -2.0}, {2}).set_requires_grad();
  optim::AdamW<double> opt({p}, {0.1, 0.9, 0.999, 1e-8, 0.01});
  sum(p * p).backward();  // g = 2p
  opt.step();
  // after one step m̂ = g and v̂ = g², so the update is lr·(sign(g) + wd·p)
  REQUIRE(p.at({0}) == Approx(1.0 - 0.1 * (1.0 / (1.0 + 1e-8 / 2) + 0.01 * 1.0)));
  REQUIRE(p.at({1}) == Approx(-2.0 - 0.1 * (-1.0 + 0.01 * -2.0)));
}

TEST_CASE("AdamW minimises a quadratic", "[optim]") {
  auto p = Tensor<float>::full({4}, 3.0).set_requires_grad();
  optim::AdamW<float> opt({p}, {0.1, 0.9, 0.999, 1e-8, 0.0});
  for (int i = 0; i < 300; ++i) {
    opt.zero_grad();
    sum(pow(p - 1.0, 2.0)).backward();
    opt.step();
  }
  for (float v : p.to_vector()) REQUIRE(v == Approx(1.0f).margin(1e-2));
  CHECK_THROWS_WITH(optim::AdamW<float>({p * 2.0f}), Catch::Contains("leaf"));
}

TEST_CASE("AdamW on float (vectors and the tail) follows the formula in double over several steps", "[optim]") {
  const int64_t n = 16 * 5 + 7;
  std::vector<float> p0(n), g(n);
  for (int64_t i = 0; i < n; ++i) p0[size_t(i)] = float(std::sin(0.7 * double(i))), g[size_t(i)] = float(std::cos(1.3 * double(i)));
  auto p = Tensor<float>::from_vector(p0, {n}).set_requires_grad();
  const auto gt = Tensor<float>::from_vector(g, {n});
  const double lr = 0.05, b1 = 0.9, b2 = 0.99, eps = 1e-6, wd = 0.1;
  optim::AdamW<float> opt({p}, {lr, b1, b2, eps, wd});
  std::vector<double> want(p0.begin(), p0.end()), m(size_t(n), 0.0), v(size_t(n), 0.0);
  for (int t = 1; t <= 3; ++t) {
    opt.zero_grad();
    sum(p * gt * double(t)).backward();  // gradient t·g
    opt.step();
    for (size_t i = 0; i < size_t(n); ++i) {
      const double gi = double(g[i]) * t;
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      const double mh = m[i] / (1 - std::pow(b1, t)), vh = v[i] / (1 - std::pow(b2, t));
      want[i] -= lr * (mh / (std::sqrt(vh) + eps) + wd * want[i]);
    }
  }
  const auto got = p.to_vector();
  for (size_t i = 0; i < size_t(n); ++i) {
    INFO("element " << i);
    REQUIRE(double(got[i]) == Approx(want[i]).margin(1e-6));
  }
}

TEST_CASE("gradient clipping scales to the max norm", "[optim]") {
  auto a = Tensor<double>::zeros({2}).set_requires_grad(), b = Tensor<double>::zeros({1}).set_requires_grad();
  (sum(a * Tensor<double>::from_vector(std::vector<double>{3, 0}, {2})) + sum(b * 4.0)).backward();
  double n = optim::clip_grad_norm<double>({a, b}, 1.0);
  REQUIRE(n == Approx(5.0));
  REQUIRE(a.grad().at({0}) == Approx(0.6).epsilon(1e-5));
  REQUIRE(b.grad().at({0}) == Approx(0.8).epsilon(1e-5));
}

TEST_CASE("warmup then cosine", "[optim]") {
  optim::WarmupCosine s{1.0, 10, 110, 0.1};
  REQUIRE(s(0) == Approx(0.1));
  REQUIRE(s(9) == Approx(1.0));
  REQUIRE(s(10) == Approx(1.0));
  REQUIRE(s(60) == Approx(0.55));
  REQUIRE(s(110) == Approx(0.1));
  REQUIRE(optim::ConstantLR{1e-6}(12345) == 1e-6);
}
