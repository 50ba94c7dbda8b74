// Autograd semantics: accumulation, zero_grad, detach, NoGrad, retain_graph, freed graphs, dtype edges.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <random>

#include "unigen/unigen.hpp"

using namespace unigen;

TEST_CASE("backward from a scalar and with a given gradient", "[autograd]") {
  auto x = Tensor<double>::from_vector(std::vector<double>{1, 2, 3}, {3});
  x.set_requires_grad();
  sum(x * x).backward();
  REQUIRE(x.grad().to_vector() == std::vector<double>{2, 4, 6});
  x.zero_grad();
  REQUIRE_FALSE(x.grad().defined());
  (x * 3.0).backward(Tensor<double>::from_vector(std::vector<double>{1, 0, 2}, {3}));
  REQUIRE(x.grad().to_vector() == std::vector<double>{3, 0, 6});
  CHECK_THROWS_WITH((x * 2.0).backward(), Catch::Contains("scalar") && Catch::Contains("[3]"));
  CHECK_THROWS_WITH((x * 2.0).backward(Tensor<double>::ones({2})), Catch::Contains("[2]"));
}

TEST_CASE("gradients accumulate across backward calls and across uses", "[autograd]") {
  auto w = Tensor<double>::full({2}, 2.0).set_requires_grad();
  sum(w * 3.0).backward();
  sum(w * 3.0).backward();
  REQUIRE(w.grad().to_vector() == std::vector<double>{6, 6});
  w.zero_grad();
  auto y = w * w + w;  // w used twice in one graph: 2w + 1
  sum(y).backward();
  REQUIRE(w.grad().to_vector() == std::vector<double>{5, 5});

  // An intermediate used three times (as a residual is): its first gradient is kept as given, the second
  // (here through a transposed view, so strided) is summed with it into a new buffer, the third added
  // in place. d/dm of Σ h·c + Σ hᵀ·cᵀ·2 + Σ h·h with h = 3m: 3·(c + 2c + 2h).
  auto m = Tensor<double>::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}).set_requires_grad();
  auto c = Tensor<double>::from_vector(std::vector<double>{1, -1, 2, 0, 3, -2}, {2, 3});
  auto h = m * 3.0;
  (sum(h * c) + sum(h.mT() * c.mT() * 2.0) + sum(h * h)).backward();
  std::vector<double> want;
  for (int i = 0; i < 6; ++i) want.push_back(3.0 * (3.0 * c.to_vector()[size_t(i)] + 2.0 * 3.0 * (i + 1)));
  REQUIRE(m.grad().to_vector() == want);
}

TEST_CASE("the graph is freed after backward unless retained", "[autograd]") {
  auto w = Tensor<double>::full({2}, 1.0).set_requires_grad();
  auto loss = sum(exp(w));
  loss.backward(true);
  loss.backward();
  REQUIRE(w.grad().at({0}) == Approx(2 * std::exp(1.0)));
  CHECK_THROWS_WITH(loss.backward(), Catch::Contains("freed") && Catch::Contains("retain_graph"));
}

TEST_CASE("detach, NoGrad and requires_grad", "[autograd]") {
  auto w = Tensor<double>::full({2}, 1.0).set_requires_grad();
  auto d = w.detach();
  REQUIRE_FALSE(d.requires_grad());
  REQUIRE(d.shares_storage(w));
  auto y = sum(w * d);
  y.backward();
  REQUIRE(w.grad().to_vector() == std::vector<double>{1, 1});
  {
    NoGrad ng;
    auto z = w * 2.0;
    REQUIRE_FALSE(z.requires_grad());
    REQUIRE(z.is_leaf());
  }
  REQUIRE((w * 2.0).requires_grad());
  auto c = Tensor<double>::ones({2});
  REQUIRE_FALSE((c * 2.0).requires_grad());
  CHECK_THROWS_WITH(sum(c).backward(), Catch::Contains("does not require grad"));
  // in-place updates of a leaf that requires grad are refused while recording
  CHECK_THROWS_WITH(w.add_(c), Catch::Contains("add_") && Catch::Contains("NoGrad"));
  {
    NoGrad ng;
    w.add_(c, -0.5);
  }
  REQUIRE(w.to_vector() == std::vector<double>{0.5, 0.5});
}

TEST_CASE("gradients flow through views into the base and across dtypes", "[autograd]") {
  auto a = Tensor<double>::zeros({2, 3}).set_requires_grad();
  auto row = a.select(0, 1);
  sum(row * Tensor<double>::arange(3)).backward();
  REQUIRE(a.grad().to_vector() == std::vector<double>{0, 0, 0, 0, 1, 2});
  auto f = Tensor<float>::ones({2}).set_requires_grad();
  sum(f.to<double>() * 4.0).backward();
  REQUIRE(f.grad().dtype() == DType::f32);
  REQUIRE(f.grad().to_vector() == std::vector<float>{4, 4});
  auto h = Tensor<bf16>::ones({2}).set_requires_grad();
  sum(h * h).backward();
  REQUIRE(float(h.grad().to_vector()[0]) == 2.0f);
}

TEST_CASE("a long chain does not overflow the stack", "[autograd]") {
  auto x = Tensor<double>::ones({1}).set_requires_grad();
  Tensor<double> y = x;
  for (int i = 0; i < 20000; ++i) y = y * 1.0;
  sum(y).backward();
  REQUIRE(x.grad().item() == 1.0);
}

TEST_CASE("gradcheck detects a wrong gradient", "[autograd][gradcheck]") {
  // A deliberately wrong backward: forward x², backward claims 3x.
  auto bad = [](const std::vector<Tensor<double>>& in) {
    const auto& x = in[0];
    Tensor<double> out = detail::map("bad", [](double v) { return v * v; }, x);
    autograd::record("bad", out, [x](const Tensor<double>& g) { autograd::accumulate(x, g * x * 3.0); }, x);
    return out;
  };
  auto r = gradcheck(bad, {Tensor<double>::rand({3}, default_generator(), 0.5, 1.0)});
  REQUIRE_FALSE(r.ok);
  REQUIRE(r.message.find("analytic") != std::string::npos);
}

// A leaf's first gradient is adopted without a copy when it is a fresh result nothing else holds; any
// gradient still held elsewhere (the caller's, or one passed to two inputs) is copied, so later
// accumulation never writes into someone else's tensor.
TEST_CASE("a leaf's gradient never aliases a tensor held elsewhere", "[autograd]") {
  auto x = Tensor<float>::ones({4}).set_requires_grad();
  auto g = Tensor<float>::full({4}, 2.0);
  x.backward(g);  // the root is the leaf: g is the caller's
  x.backward(g);
  REQUIRE(g.to_vector() == std::vector<float>(4, 2.0f));
  REQUIRE(x.grad().to_vector() == std::vector<float>(4, 4.0f));
  x.zero_grad();
  auto gy = Tensor<float>::full({4, 8}, 1.0);
  auto w = Tensor<float>::ones({8}).set_requires_grad(), b = Tensor<float>::zeros({8}).set_requires_grad();
  auto in = Tensor<float>::randn({4, 8}).set_requires_grad();
  for (int r = 0; r < 2; ++r) layer_norm(in, w, b).backward(gy);  // the first gx adopted, the second added
  REQUIRE(gy.to_vector() == std::vector<float>(32, 1.0f));
  for (float v : b.grad().to_vector()) REQUIRE(v == 8.0f);  // 2 passes × 4 rows of ones
  for (float v : in.grad().to_vector()) REQUIRE(std::abs(v) < 1e-5f);  // a constant gy has no effect on x
  auto y = x + x;  // one gradient to both operands
  y.backward(Tensor<float>::ones({4}));
  REQUIRE(x.grad().to_vector() == std::vector<float>(4, 2.0f));
}

// add hands its output's gradient to both operands as it is (no copy): a second gradient reaching one of
// them must be added into a new buffer, not into the one the other operand shares.
TEST_CASE("add passes one gradient to both operands, and a later one into either leaves the other", "[autograd]") {
  auto p = Tensor<float>::full({4}, 1.0).set_requires_grad();
  auto a = mul(p, 2.0), b = mul(p, 5.0);
  auto z = add(add(a, b), a);  // a: two gradients, the first shared with b
  z.backward(Tensor<float>::full({4}, 1.0));
  REQUIRE(p.grad().to_vector() == std::vector<float>(4, 9.0f));  // 2 + 5 + 2
  auto q = Tensor<float>::full({2, 3}, 1.0).set_requires_grad(), r = Tensor<float>::full({3}, 1.0).set_requires_grad();
  add(mul(q, 3.0), r).backward(Tensor<float>::full({2, 3}, 1.0));  // r broadcast: its gradient summed
  REQUIRE(q.grad().to_vector() == std::vector<float>(6, 3.0f));
  REQUIRE(r.grad().to_vector() == std::vector<float>(3, 2.0f));
}

TEST_CASE("a fresh gradient handed over as an rvalue becomes the leaf's .grad() without a copy", "[autograd]") {
  auto x = Tensor<float>::ones({4}).set_requires_grad();
  const float* handed = nullptr;
  auto run = [&](bool move) {
    auto out = x.detach().clone();
    autograd::record("handover", out, [x, move, &handed](const Tensor<float>& g) {
      Tensor<float> gx = g.clone();
      handed = gx.data();
      if (move) autograd::accumulate(x, std::move(gx));
      else autograd::accumulate(x, gx);
    }, x);
    out.backward(Tensor<float>::full({4}, 3.0));
  };
  run(true);
  REQUIRE(x.grad().data() == handed);  // adopted
  run(true);                            // the second adds into it
  REQUIRE(x.grad().data() != handed);
  REQUIRE(x.grad().to_vector() == std::vector<float>(4, 6.0f));
  x.zero_grad();
  run(false);  // an lvalue the caller keeps is copied
  REQUIRE(x.grad().data() != handed);
  REQUIRE(x.grad().to_vector() == std::vector<float>(4, 3.0f));
}

TEST_CASE("slices of one intermediate share one gradient buffer, zero only where no slice reached", "[autograd]") {
  // h = 2x of shape [3, 64, 96] (144 KiB of doubles, so its freed blocks are cached and reused: the
  // buffer the slices write into may start as NaN). Each case takes views of h, weights each by its own
  // integer tensor, and the gradient must be 2 × (the weights added into a zero tensor through the same
  // views), exactly.
  using View = std::function<Tensor<double>(const Tensor<double>&)>;
  const std::vector<std::pair<const char*, std::vector<View>>> cases = {
      {"q, k and v selected along dim 0",
       {[](const auto& t) { return t.select(0, 0); }, [](const auto& t) { return t.select(0, 2); },
        [](const auto& t) { return t.select(0, 1).mT(); }}},
      {"overlapping slices and a gap along dim 1",
       {[](const auto& t) { return t.slice(1, 0, 40); }, [](const auto& t) { return t.slice(1, 20, 50); }}},
      {"slices along dim 1, then along dim 2",
       {[](const auto& t) { return t.slice(1, 5, 9); }, [](const auto& t) { return t.slice(2, 0, 3); },
        [](const auto& t) { return t.slice(1, 30, 64); }}},
      {"a slice and the whole tensor", {[](const auto& t) { return t.select(0, 1); }, [](const auto& t) { return t; }}},
      {"the whole tensor and a slice", {[](const auto& t) { return t; }, [](const auto& t) { return t.select(0, 1); }}},
      {"a strided slice after a dense one",
       {[](const auto& t) { return t.slice(2, 0, 20); }, [](const auto& t) { return t.slice(2, 1, 96, 3); }}},
      {"one slice alone", {[](const auto& t) { return t.narrow(2, 7, 1); }}},
  };
  Generator g(5);
  std::mt19937 ints(5);
  auto weights = [&](const Shape& s) {  // small integers, so every sum below is exact
    std::vector<double> v(size_t(numel_of(s)));
    for (auto& e : v) e = double(int(ints() % 9) - 4);
    return Tensor<double>::from_vector(v, s);
  };
  for (const auto& [name, views] : cases) {
    INFO(name);
    auto x = Tensor<double>::randn({3, 64, 96}, g).set_requires_grad();
    auto h = x * 2.0;
    std::vector<Tensor<double>> ws;
    Tensor<double> loss = Tensor<double>::zeros({});
    for (const auto& v : views) {
      ws.push_back(weights(v(h).shape()));
      loss = loss + sum(v(h) * ws.back());
    }
    { auto nan = Tensor<double>::full({3, 64, 96}, std::nan("")); }  // a freed NaN block for backward to reuse
    loss.backward();
    auto want = Tensor<double>::zeros({3, 64, 96});
    for (size_t i = 0; i < views.size(); ++i) views[i](want).add_(ws[i]);
    REQUIRE(x.grad().to_vector() == (want * 2.0).to_vector());
  }
}
