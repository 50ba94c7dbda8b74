// Gradient checks (one table row per op) and forward values for the elementwise, reduction, matmul,
// normalisation, loss and attention ops.
// GCC 12 reports false -Wmaybe-uninitialized inside Eigen's AVX-512 packet code (_mm512_undefined_ps).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Dense>
#include <omp.h>

#include "op_table.hpp"
#include "unigen/unigen.hpp"

using namespace unigen;
using testing::Inputs;
using testing::OpCase;

namespace {
Tensor<int64_t> labels(std::vector<int64_t> v, Shape s) { return Tensor<int64_t>::from_vector(v, s); }
}  // namespace

TEST_CASE("gradient check: elementwise, reductions, views", "[gradcheck]") {
  std::vector<OpCase> rows = {
      {"add (broadcast)", {{-1, -2}, {-2}}, [](const Inputs& x) { return add(x[0], x[1]); }},
      {"sub (broadcast)", {{-1, 1}, {-1, -2}}, [](const Inputs& x) { return sub(x[0], x[1]); }},
      {"mul (broadcast)", {{-3, -1, -2}, {-1, 1}}, [](const Inputs& x) { return mul(x[0], x[1]); }},
      {"div", {{-1, -2}, {-1, -2}}, [](const Inputs& x) { return div(x[0], add(x[1], 2.0)); }},
      {"neg", {{-1, -2}}, [](const Inputs& x) { return neg(x[0]); }},
      {"pow scalar", {{-1, -2}}, [](const Inputs& x) { return pow(x[0], 3.0); }},
      {"pow tensor", {{-1, -2}, {-2}}, [](const Inputs& x) { return pow(x[0], x[1]); }, 0.5, 1.5},
      {"exp", {{-1, -2}}, [](const Inputs& x) { return exp(x[0]); }},
      {"log", {{-1, -2}}, [](const Inputs& x) { return log(x[0]); }, 0.5, 2.0},
      {"sqrt", {{-1, -2}}, [](const Inputs& x) { return sqrt(x[0]); }, 0.5, 2.0},
      {"tanh", {{-1, -2}}, [](const Inputs& x) { return tanh(x[0]); }},
      {"abs", {{-1, -2}}, [](const Inputs& x) { return abs(x[0]); }, 0.1, 1.0},
      {"clamp", {{-1, -2}}, [](const Inputs& x) { return clamp(x[0], -0.5, 0.5); }, -0.45, 0.45},
      {"relu", {{-1, -2}}, [](const Inputs& x) { return relu(x[0]); }, 0.1, 1.0},
      {"gelu", {{-1, -2}}, [](const Inputs& x) { return gelu(x[0]); }, -3.0, 3.0},
      {"gelu_tanh", {{-1, -2}}, [](const Inputs& x) { return gelu_tanh(x[0]); }, -3.0, 3.0},
      {"silu", {{-1, -2}}, [](const Inputs& x) { return silu(x[0]); }, -3.0, 3.0},
      {"sigmoid", {{-1, -2}}, [](const Inputs& x) { return sigmoid(x[0]); }, -3.0, 3.0},
      {"where", {{-1, -2}, {-2}}, [](const Inputs& x) { return where(gt(x[0], x[1]), x[0], x[1] * 2.0); }},
      {"masked_fill", {{-1, -2}}, [](const Inputs& x) { return masked_fill(x[0], gt(x[0], Tensor<double>::scalar(0.3)), 2.0); }},
      {"sum dims", {{-1, -2, -3}}, [](const Inputs& x) { return sum(x[0], {0, 2}); }},
      {"sum keepdim", {{-1, -2, -3}}, [](const Inputs& x) { return sum(x[0], {1}, true); }},
      {"mean", {{-1, -2, -3}}, [](const Inputs& x) { return mean(x[0], {-1}); }},
      {"max", {{-1, -2, -3}}, [](const Inputs& x) { return max(x[0], {1}); }},
      {"min keepdim", {{-1, -2, -3}}, [](const Inputs& x) { return min(x[0], {0, 2}, true); }},
      {"reshape", {{-1, -2, 2}}, [](const Inputs& x) { return x[0].reshape({-1}) * x[0].reshape({-1}); }},
      {"permute/transpose", {{-1, -2, -3}}, [](const Inputs& x) { return exp(x[0].permute({2, 0, 1}).transpose(0, 1)); }},
      {"slice/narrow/select", {{-1, 4, -2}}, [](const Inputs& x) { return exp(x[0].slice(1, 1, 4, 2)) + sum(x[0].narrow(1, 0, 2).select(0, 0)); }},
      {"expand", {{-1, 1}}, [](const Inputs& x) { return exp(x[0].expand({3, -1, 4})); }},
      {"squeeze/unsqueeze", {{-1, 1, -2}}, [](const Inputs& x) { return exp(x[0].squeeze(1).unsqueeze(0)); }},
      {"clone/contiguous", {{-1, -2}}, [](const Inputs& x) { return x[0].mT().contiguous().clone() * 3.0; }},
  };
  testing::run_gradcheck_table(rows);
}

TEST_CASE("gradient check: matmul, linear, softmax, layer_norm, losses, dropout, attention", "[gradcheck]") {
  std::vector<OpCase> rows = {
      {"matmul 2-D", {{-1, -2}, {-2, -3}}, [](const Inputs& x) { return matmul(x[0], x[1]); }},
      {"matmul batched broadcast", {{-4, 1, -1, -2}, {3, -2, -3}}, [](const Inputs& x) { return matmul(x[0], x[1]); }},
      {"matmul transposed operands", {{-2, -1}, {-3, -2}}, [](const Inputs& x) { return matmul(x[0].mT(), x[1].mT()); }},
      {"matmul vector", {{-2}, {-2, -3}}, [](const Inputs& x) { return matmul(x[0], x[1]); }},
      {"linear", {{-1, -2, -3}, {-4, -3}, {-4}}, [](const Inputs& x) { return linear(x[0], x[1], x[2]); }},
      {"linear no bias", {{-1, -3}, {-4, -3}}, [](const Inputs& x) { return linear(x[0], x[1]); }},
      {"softmax", {{-1, -2, 5}}, [](const Inputs& x) { return softmax(x[0], -1); }},
      {"softmax dim 0", {{4, -2}}, [](const Inputs& x) { return softmax(x[0], 0); }},
      {"log_softmax", {{-1, -2, 5}}, [](const Inputs& x) { return log_softmax(x[0], 1); }},
      {"layer_norm", {{-1, -2, 6}, {6}, {6}}, [](const Inputs& x) { return layer_norm(x[0], x[1], x[2]); }},
      {"layer_norm no affine", {{-1, 5}}, [](const Inputs& x) { return layer_norm(x[0]); }},
      {"cross_entropy", {{-1, 2, 5}},
       [](const Inputs& x) {
         Generator g(-1);
         return cross_entropy(x[0], Tensor<int64_t>::randint(0, 5, {x[0].size(0), 2}, g));
       }, -2.0, 2.0},
      {"cross_entropy smoothing + ignore + weights", {{4, 5}},
       [](const Inputs& x) {
         CrossEntropyOptions o;
         o.label_smoothing = 0.2;
         o.ignore_index = 0;
         auto w = Tensor<double>::from_vector(std::vector<double>{0.5, 1, 2, 1.5, 3}, {5});
         return cross_entropy(x[0], labels({1, 0, 4, 2}, {4}), o, w);
       }, -2.0, 2.0},
      {"cross_entropy reduction none", {{3, 4}},
       [](const Inputs& x) {
         CrossEntropyOptions o;
         o.reduction = Reduction::none;
         o.label_smoothing = 0.1;
         return cross_entropy(x[0], labels({3, 0, 1}, {3}), o);
       }, -2.0, 2.0},
      {"mse", {{-1, -2}, {-1, -2}}, [](const Inputs& x) { return mse(x[0], x[1]); }},
      {"dropout", {{-1, 8}},
       [](const Inputs& x) {
         Generator g(7);
         return dropout(x[0], 0.3, true, g);
       }},
      {"attention", {{2, 3, 4}, {2, 5, 4}, {2, 5, 3}},
       [](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); }},
      {"attention causal", {{2, 4, 3}, {2, 4, 3}, {2, 4, 2}},
       [](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], {}, true); }},
      {"attention broadcast batch + mask over heads", {{2, 1, 3, 4}, {1, 2, 5, 4}, {1, 2, 5, 3}},
       [](const Inputs& x) {
         auto m = Tensor<bool>::from_vector(std::vector<int>{1, 1, 0, 1, 0, 1, 1, 1, 1, 0}, {2, 1, 1, 5});
         return scaled_dot_product_attention(x[0], x[1], x[2], m, true);
       }},
      {"attention mask (one query fully masked)", {{1, 3, 4}, {1, 3, 4}, {1, 3, 2}},
       [](const Inputs& x) {
         auto m = Tensor<bool>::from_vector(std::vector<int>{1, 1, 0, 0, 0, 0, 0, 1, 1}, {3, 3});
         return scaled_dot_product_attention(x[0], x[1], x[2], m);
       }},
  };
  testing::run_gradcheck_table(rows);
}

TEST_CASE("matmul equals Eigen for every transpose combination and batch", "[matmul]") {
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Generator g(3);
  for (int64_t M : {1, 7, 33}) {
    for (int64_t N : {1, 5, 40}) {
      for (int64_t K : {1, 9, 65}) {
        for (int ta = 0; ta < 2; ++ta) {
          for (int tb = 0; tb < 2; ++tb) {
            // small integers: products and sums are exact in f32, so the comparison is exact
            auto A = Tensor<float>::randint(-4, 5, ta ? Shape{K, M} : Shape{M, K}, g);
            auto B = Tensor<float>::randint(-4, 5, tb ? Shape{N, K} : Shape{K, N}, g);
            Tensor<float> C = matmul(ta ? A.mT() : A, tb ? B.mT() : B);
            Mat ea = Eigen::Map<Mat>(A.data(), A.size(0), A.size(1));
            Mat eb = Eigen::Map<Mat>(B.data(), B.size(0), B.size(1));
            if (ta) ea.transposeInPlace();
            if (tb) eb.transposeInPlace();
            Mat ec = ea * eb;
            REQUIRE(C.shape() == Shape{M, N});
            for (int64_t i = 0; i < M; ++i)
              for (int64_t j = 0; j < N; ++j) REQUIRE(C.at({i, j}) == ec(i, j));
          }
        }
      }
    }
  }
  auto a = Tensor<float>::randint(-3, 4, {2, 1, 4, 6}, g), b = Tensor<float>::randint(-3, 4, {3, 6, 5}, g);
  auto c = matmul(a, b);
  REQUIRE(c.shape() == Shape{2, 3, 4, 5});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      Tensor<float> ai = a.select(0, i).select(0, 0).contiguous(), bj = b.select(0, j).contiguous();
      Mat ec = Eigen::Map<Mat>(ai.data(), 4, 6) * Eigen::Map<Mat>(bj.data(), 6, 5);
      for (int64_t r = 0; r < 4; ++r)
        for (int64_t s = 0; s < 5; ++s) REQUIRE(c.at({i, j, r, s}) == ec(r, s));
    }
}

TEST_CASE("16-bit matmul and elementwise compute in f32", "[dtype]") {
  Generator g(5);
  auto a = Tensor<float>::randint(-3, 4, {5, 6}, g), b = Tensor<float>::randint(-3, 4, {6, 7}, g);
  auto ref = matmul(a, b).to_vector();
  auto hb = matmul(a.to<bf16>(), b.to<bf16>()).to<float>().to_vector();
  auto hh = matmul(a.to<f16>(), b.to<f16>()).to<float>().to_vector();
  REQUIRE(hb == ref);
  REQUIRE(hh == ref);
  auto x = Tensor<bf16>::from_vector(std::vector<float>{1.0f, 2.0f}, {2});
  REQUIRE(float(exp(x).to_vector()[1]) == float(bf16(std::exp(2.0f))));
}

// linear adds its bias inside the GEMM (f32) or its loop (f64, and 16-bit widened to f32): every element
// type must give x·wᵀ + bias exactly on small integers, with a strided bias view and a batch of rows.
TEST_CASE("linear with a bias equals x·wT + bias in every element type", "[matmul]") {
  Generator g(8);
  auto x = Tensor<float>::randint(-3, 4, {2, 35, 9}, g), w = Tensor<float>::randint(-3, 4, {70, 9}, g);
  auto bb = Tensor<float>::randint(-5, 6, {140}, g);
  const auto bias = bb.slice(0, 0, 140, 2);  // a strided view
  std::vector<float> want;
  for (int64_t r = 0; r < 70; ++r)
    for (int64_t o = 0; o < 70; ++o) {
      float s = bias.at({o});
      for (int64_t k = 0; k < 9; ++k) s += x.at({r / 35, r % 35, k}) * w.at({o, k});
      want.push_back(s);
    }
  REQUIRE(linear(x, w, bias).shape() == Shape{2, 35, 70});
  CHECK(linear(x, w, bias).to_vector() == want);
  CHECK(linear(x.to<double>(), w.to<double>(), bias.to<double>()).to<float>().to_vector() == want);
  CHECK(linear(x.to<bf16>(), w.to<bf16>(), bias.to<bf16>()).to<float>().to_vector() ==
        Tensor<float>::from_vector(want, {2, 35, 70}).to<bf16>().to<float>().to_vector());
  CHECK(linear(x.to<f16>(), w.to<f16>(), bias.to<f16>()).to<float>().to_vector() == want);
}

// Reductions take a row order (reduced elements adjacent) or a column order (a kept dim innermost in
// memory); both must give the plain loop's values, first-index argmax included, on any layout.
TEST_CASE("reductions equal a plain loop over dense, transposed and sliced inputs", "[reduce]") {
  Generator g(11);
  // integers: sums are exact whatever the order; ties test argmax's first index
  auto base = Tensor<float>::randint(-4, 5, {37, 50, 3}, g);
  const std::vector<Tensor<float>> layouts = {base, base.permute({2, 1, 0}).contiguous().permute({2, 1, 0}),
                                              base.slice(1, 1, 50, 2)};
  for (const auto& x : layouts) {
    const int64_t A = x.size(0), B = x.size(1), C = x.size(2);
    auto s0 = sum(x, {0}), s02 = sum(x, {0, 2}), s2 = sum(x, {2});
    auto mx = max(x, {0}), mn = min(x, {0, 1});
    auto am = argmax(x, 0);
    for (int64_t b = 0; b < B; ++b) {
      float t02 = 0;
      for (int64_t c = 0; c < C; ++c) {
        float t0 = 0, m = -1e9f;
        int64_t arg = -1;
        for (int64_t a = 0; a < A; ++a) {
          const float v = x.at({a, b, c});
          t0 += v;
          if (arg < 0 || v > m) m = v, arg = a;
        }
        REQUIRE(s0.at({b, c}) == t0);
        REQUIRE(mx.at({b, c}) == m);
        REQUIRE(am.at({b, c}) == arg);
        t02 += t0;
      }
      REQUIRE(s02.at({b}) == t02);
    }
    for (int64_t a = 0; a < A; ++a)
      for (int64_t b = 0; b < B; ++b) {
        float t2 = 0;
        for (int64_t c = 0; c < C; ++c) t2 += x.at({a, b, c});
        REQUIRE(s2.at({a, b}) == t2);
      }
    for (int64_t c = 0; c < C; ++c) {
      float m = 1e9f;
      for (int64_t a = 0; a < A; ++a)
        for (int64_t b = 0; b < B; ++b) m = std::min(m, x.at({a, b, c}));
      REQUIRE(mn.at({c}) == m);
    }
  }
}

// A sum over dense blocks (the innermost dims) folds them vectorised, a large block in chunks on
// several threads: within float rounding of a double loop, and the same bits on 1 and 2 threads.
TEST_CASE("sums over dense blocks match a double loop on any thread count", "[reduce]") {
  Generator g(12);
  auto x = Tensor<float>::randn({3, 70000}, g);  // 210000 elements: several 64 Ki chunks and a tail
  auto ref = [&](int64_t r0, int64_t r1) {
    double t = 0;
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < x.size(1); ++j) t += x.at({r, j});
    return t;
  };
  std::vector<std::vector<float>> runs;
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    auto all = sum(x), rows = sum(x, {1}), mid = sum(x.reshape({3, 7, 10000}), {1, 2});
    const double tol = 1e-5 * std::sqrt(double(x.numel()));
    REQUIRE(all.item() == Approx(ref(0, 3)).margin(tol));
    REQUIRE(mean(x).item() == Approx(ref(0, 3) / double(x.numel())).margin(1e-6));
    for (int64_t r = 0; r < 3; ++r) {
      REQUIRE(rows.at({r}) == Approx(ref(r, r + 1)).margin(tol));
      REQUIRE(mid.at({r}) == Approx(ref(r, r + 1)).margin(tol));
    }
    runs.push_back({all.item(), rows.at({0}), rows.at({1}), rows.at({2}), mid.at({2})});
  }
  omp_set_num_threads(omp_get_num_procs());
  REQUIRE(runs[0] == runs[1]);
}

// max and min fold dense blocks vectorised (in chunks on several threads when large), other layouts
// one element at a time: every path gives the plain loop's value, and NaN where its block holds one.
TEST_CASE("max and min over dense and strided blocks equal a plain loop and propagate NaN", "[reduce]") {
  Generator g(13);
  auto x = Tensor<float>::randn({3, 70000}, g);  // several 64 Ki chunks and a tail
  const float nan = std::numeric_limits<float>::quiet_NaN();
  x.data()[1 * 70000 + 69999] = nan;  // row 1's last element: the whole tensor's last chunk
  auto loop = [&](int64_t r, int sign) {
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < x.size(1); ++j) m = std::max(m, float(sign) * x.at({r, j}));
    return float(sign) * m;
  };
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    INFO("threads " << threads);
    REQUIRE(std::isnan(max(x).item()));
    REQUIRE(std::isnan(min(x).item()));
    const Tensor<float> xt = x.permute({1, 0}).contiguous().permute({1, 0});  // the same values, strided rows
    for (const auto& v : {x, xt, x.reshape({3, 7, 10000})}) {
      auto mx = v.dim() == 2 ? max(v, {1}) : max(v, {1, 2});
      auto mn = v.dim() == 2 ? min(v, {1}) : min(v, {1, 2});
      for (int64_t r : {0, 2}) {
        REQUIRE(mx.at({r}) == loop(r, 1));
        REQUIRE(mn.at({r}) == loop(r, -1));
      }
      REQUIRE(std::isnan(mx.at({1})));
      REQUIRE(std::isnan(mn.at({1})));
    }
    auto y = x.slice(0, 0, 1);  // row 0 alone: a whole-tensor fold without NaN
    REQUIRE(max(y).item() == loop(0, 1));
    REQUIRE(min(y).item() == loop(0, -1));
    // the column order (all outputs at once, a kept dim innermost)
    auto c = Tensor<float>::randn({40, 20}, g);
    c.data()[5 * 20 + 3] = nan;
    auto mc = min(c, {0});
    for (int64_t j = 0; j < 20; ++j) REQUIRE(std::isnan(mc.at({j})) == (j == 3));
  }
  omp_set_num_threads(omp_get_num_procs());
  // the gradient goes to the max of each row, and is NaN over the row whose max is NaN
  auto w = Tensor<float>::randn({3, 50}, g);
  w.data()[50 + 7] = nan;
  w.set_requires_grad();
  sum(max(w, {1})).backward();
  for (int64_t r = 0; r < 3; ++r) {
    int64_t ones = 0;
    for (int64_t j = 0; j < 50; ++j) {
      const float gr = w.grad().at({r, j});
      if (r == 1) {
        REQUIRE(std::isnan(gr));
      } else {
        REQUIRE((gr == 1.0f || gr == 0.0f));
        ones += gr == 1.0f;
      }
    }
    if (r != 1) REQUIRE(ones == 1);
  }
}

TEST_CASE("dropout drops a fraction p, scales the rest by 1/(1-p) and repeats with its seed", "[ops]") {
  auto x = Tensor<float>::ones({100001});
  Generator g1(3), g2(3);
  auto y = dropout(x, 0.3, true, g1).to_vector();
  REQUIRE(dropout(x, 0.3, true, g2).to_vector() == y);
  int64_t zeros = 0;
  for (float v : y) {
    if (v == 0.0f) ++zeros;
    else REQUIRE(v == Approx(1.0 / 0.7).epsilon(1e-6));
  }
  // the dropped fraction is binomial: within 5 standard deviations, sqrt(p·(1−p)/n) each
  REQUIRE(double(zeros) / double(y.size()) == Approx(0.3).margin(5 * std::sqrt(0.3 * 0.7 / double(y.size()))));
  // the two elements that share a 64-bit draw are independent: both dropped with probability p²
  int64_t both = 0;
  const int64_t pairs = int64_t(y.size()) / 2;
  for (int64_t j = 0; j < pairs; ++j) both += y[size_t(2 * j)] == 0.0f && y[size_t(2 * j + 1)] == 0.0f;
  REQUIRE(double(both) / double(pairs) == Approx(0.09).margin(5 * std::sqrt(0.09 * 0.91 / double(pairs))));
  // the next call draws a new mask; the mask does not depend on the number of threads
  REQUIRE(dropout(x, 0.3, true, g1).to_vector() != y);
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    Generator g3(3);
    CHECK(dropout(x, 0.3, true, g3).to_vector() == y);
  }
  omp_set_num_threads(omp_get_num_procs());
  // element i's draw depends only on the seed and i: an odd length (its last element the first half of a
  // pair) drops what one element longer drops there
  Generator g4(3);
  const auto longer = dropout(Tensor<float>::ones({100002}), 0.3, true, g4).to_vector();
  REQUIRE(std::vector<float>(longer.begin(), longer.end() - 1) == y);
  REQUIRE(dropout(x, 0.3, false).to_vector() == x.to_vector());
  REQUIRE(dropout(x, 0.0).to_vector() == x.to_vector());
  CHECK_THROWS_WITH(dropout(x, 1.0), Catch::Contains("dropout"));
}

// Large outputs are written with non-temporal stores (cpu::stream_min_bytes): layer_norm, softmax and
// log_softmax, forward and backward. Lowering the threshold to zero sends small tensors that way too,
// with rows that start off the vector alignment (D = 37).
TEST_CASE("layer_norm, softmax and log_softmax give the same values with non-temporal stores", "[ops]") {
  Generator gen(11);
  for (int op = 0; op < 3; ++op)
    for (int64_t D : {37, 64}) {
      auto x = Tensor<float>::randn({300, D}, gen), w = Tensor<float>::randn({D}, gen);
      auto b = Tensor<float>::randn({D}, gen), g = Tensor<float>::randn({300, D}, gen);
      // y, gx (and gw, gb) as doubles, computed in T with the given threshold
      auto run = [&]<class T>(T, int64_t min_bytes) {
        struct Restore {
          int64_t saved = cpu::stream_min_bytes;
          ~Restore() { cpu::stream_min_bytes = saved; }
        } restore;
        cpu::stream_min_bytes = min_bytes;
        auto xc = x.to<T>().detach().set_requires_grad(), wc = w.to<T>().detach().set_requires_grad();
        auto bc = b.to<T>().detach().set_requires_grad();
        auto y = op == 0 ? layer_norm(xc, wc, bc) : op == 1 ? softmax(xc) : log_softmax(xc);
        y.backward(g.to<T>());
        std::vector<std::vector<double>> out;
        for (const auto& t : {y, xc.grad(), wc.grad(), bc.grad()})
          if (t.defined()) out.push_back(t.template to<double>().to_vector());
        return out;
      };
      const int64_t never = std::numeric_limits<int64_t>::max();
      const auto plain = run(0.0f, never), streamed = run(0.0f, 0), exact = run(0.0, never);
      REQUIRE(plain.size() == (op == 0 ? 4u : 2u));
      for (size_t k = 0; k < plain.size(); ++k) {
        INFO("op " << op << " (layer_norm, softmax, log_softmax), D = " << D << ", output " << k << " (y, gx, gw, gb)");
        REQUIRE(streamed[k] == plain[k]);
        for (size_t i = 0; i < plain[k].size(); ++i)
          REQUIRE(plain[k][i] == Approx(exact[k][i]).epsilon(1e-4).margin(1e-4));
      }
    }
}

TEST_CASE("forward values of softmax, layer_norm, cross_entropy, attention", "[ops]") {
  auto x = Tensor<double>::from_vector(std::vector<double>{1, 2, 3, 1, 1, 1}, {2, 3});
  auto s = softmax(x);
  double e = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  REQUIRE(s.at({0, 2}) == Approx(std::exp(3.0) / e).epsilon(1e-14));
  REQUIRE(s.at({1, 0}) == Approx(1.0 / 3));
  REQUIRE(log_softmax(x).at({0, 0}) == Approx(1.0 - std::log(e)));
  auto ln = layer_norm(x, {}, {}, 1e-12);
  REQUIRE(ln.at({0, 0}) == Approx(-std::sqrt(1.5)));
  REQUIRE(ln.at({1, 1}) == Approx(0.0).margin(1e-12));
  // cross entropy: −log softmax at the target, averaged; label smoothing mixes in the mean over classes
  auto t = labels({2, 0}, {2});
  double l0 = std::log(e) - 3.0, l1 = std::log(3.0);
  REQUIRE(cross_entropy(x, t).item() == Approx((l0 + l1) / 2));
  CrossEntropyOptions o;
  o.label_smoothing = 0.3;
  double u0 = std::log(e) - 2.0, u1 = std::log(3.0);
  REQUIRE(cross_entropy(x, t, o).item() == Approx((0.7 * l0 + 0.3 * u0 + 0.7 * l1 + 0.3 * u1) / 2));
  o = {};
  o.ignore_index = 0;
  REQUIRE(cross_entropy(x, t, o).item() == Approx(l0));
  auto w = Tensor<double>::from_vector(std::vector<double>{1, 1, 3}, {3});
  REQUIRE(cross_entropy(x, t, {}, w).item() == Approx((3 * l0 + l1) / 4));
  // attention with one key: the output is that key's value whatever the scores
  auto q = Tensor<double>::randn({1, 2, 4}), k = Tensor<double>::randn({1, 1, 4});
  auto v = Tensor<double>::from_vector(std::vector<double>{5, 6}, {1, 1, 2});
  auto out = scaled_dot_product_attention(q, k, v);
  REQUIRE(out.at({0, 1, 1}) == Approx(6.0));
  // causal: the first query sees only the first key
  auto k2 = Tensor<double>::randn({1, 2, 4});
  auto v2 = Tensor<double>::from_vector(std::vector<double>{1, 2, 3, 4}, {1, 2, 2});
  REQUIRE(scaled_dot_product_attention(q, k2, v2, {}, true).at({0, 0, 1}) == Approx(2.0));
}

TEST_CASE("cross_entropy gradient in float and bf16 matches double", "[ops]") {
  // float takes exp straight from the logits into the scratch row, bf16 widens them first; the double
  // path itself is checked against finite differences by the gradient-check table
  Generator g(9);
  auto xd = Tensor<double>::randn({7, 37}, g);
  auto t = Tensor<int64_t>::randint(0, 37, {7}, g);
  CrossEntropyOptions o;
  o.label_smoothing = 0.1;
  auto x = xd.clone().set_requires_grad();
  cross_entropy(x, t, o).backward();
  const auto want = x.grad().to_vector();
  auto xf = xd.to<float>().detach().set_requires_grad();
  cross_entropy(xf, t, o).backward();
  auto xb = xd.to<bf16>().detach().set_requires_grad();
  cross_entropy(xb, t, o).backward();
  const auto gf = xf.grad().to_vector();
  const auto gb = xb.grad().to<double>().to_vector();
  // bf16: the logits are rounded to 8 bits of mantissa, so the reference is taken from the rounded values
  auto xr = xd.to<bf16>().to<double>().detach().set_requires_grad();
  cross_entropy(xr, t, o).backward();
  const auto wantb = xr.grad().to_vector();
  for (size_t i = 0; i < want.size(); ++i) {
    CHECK(double(gf[i]) == Approx(want[i]).margin(1e-7));
    CHECK(gb[i] == Approx(wantb[i]).epsilon(1e-2).margin(2e-5));
  }
}

TEST_CASE("shape and dtype mismatches throw Error naming the op and the shapes", "[errors]") {
  auto a = Tensor<float>::zeros({2, 3}), b = Tensor<float>::zeros({4, 5});
  CHECK_THROWS_WITH(add(a, b), Catch::Contains("add") && Catch::Contains("[2, 3]") && Catch::Contains("[4, 5]"));
  CHECK_THROWS_WITH(matmul(a, b), Catch::Contains("matmul") && Catch::Contains("[2, 3]") && Catch::Contains("[4, 5]"));
  CHECK_THROWS_WITH(linear(a, b), Catch::Contains("linear") && Catch::Contains("[4, 5]"));
  CHECK_THROWS_WITH(layer_norm(a, Tensor<float>::ones({4})), Catch::Contains("layer_norm") && Catch::Contains("[4]"));
  CHECK_THROWS_WITH(cross_entropy(a, labels({0, 1, 2}, {3})), Catch::Contains("cross_entropy") && Catch::Contains("[3]"));
  CHECK_THROWS_WITH(cross_entropy(a, labels({0, 7}, {2})), Catch::Contains("cross_entropy") && Catch::Contains("7"));
  CHECK_THROWS_WITH(sum(a, {2}), Catch::Contains("sum") && Catch::Contains("dim 2"));
  CHECK_THROWS_WITH(softmax(a, 5), Catch::Contains("softmax"));
  CHECK_THROWS_WITH(a.view({4, 2}), Catch::Contains("view") && Catch::Contains("[4, 2]"));
  CHECK_THROWS_WITH(a.expand({3, 3}), Catch::Contains("expand") && Catch::Contains("[2, 3]"));
  CHECK_THROWS_WITH(masked_fill(a, Tensor<bool>::zeros({3, 3}), 0.0), Catch::Contains("masked_fill"));
  CHECK_THROWS_WITH(scaled_dot_product_attention(a.unsqueeze(0), b.unsqueeze(0), b.unsqueeze(0)),
                    Catch::Contains("scaled_dot_product_attention"));
  CHECK_THROWS_WITH(Tensor<int64_t>::zeros({2}).set_requires_grad(), Catch::Contains("i64"));
  CHECK_THROWS_AS(a.to(Device::cuda(0)), Error);
}

TEST_CASE("fused attention equals the composition of basic ops, forward and backward", "[attention]") {
  Generator g(11);
  // Tk = 81: one row block per slice; Tk = 600: blocks of 64 query rows (81 = 64 + 17). The prefix-style
  // mask hides keys 64.. from the first 64 queries.
  for (int64_t Tk : {81, 600})
  for (bool causal : {false, true}) {
    auto q = Tensor<float>::randn({2, 3, 81, 16}, g).set_requires_grad();
    auto k = Tensor<float>::randn({2, 3, Tk, 16}, g).set_requires_grad();
    auto v = Tensor<float>::randn({2, 3, Tk, 8}, g).set_requires_grad();
    auto m = Tensor<bool>::ones({81, Tk});
    for (int64_t i = 0; i < 64; ++i)
      for (int64_t j = 64; j < Tk; ++j) m.set({i, j}, false);
    auto dout = Tensor<float>::randn({2, 3, 81, 8}, g);
    auto fused = scaled_dot_product_attention(q, k, v, m, causal);
    fused.backward(dout);
    auto gq = q.grad(), gk = k.grad(), gv = v.grad();
    q.zero_grad(), k.zero_grad(), v.zero_grad();
    auto ref = detail::attention_composed(q, k, v, m, causal);
    ref.backward(dout);
    auto close = [](const Tensor<float>& a, const Tensor<float>& b) {
      auto x = a.to_vector(), y = b.to_vector();
      REQUIRE(x.size() == y.size());
      for (size_t i = 0; i < x.size(); ++i) REQUIRE(x[i] == Approx(y[i]).margin(2e-5).epsilon(1e-4));
    };
    close(fused, ref);
    close(gq, q.grad());
    close(gk, k.grad());
    close(gv, v.grad());
  }
  // q, k, v read in place: the head views of one fused projection (rows 3·H·dh apart), a key view that
  // broadcasts over the heads, and a gradient that is a permuted view too.
  for (bool causal : {false, true}) {
    auto h = Tensor<float>::randn({2, 81, 3, 3, 16}, g).set_requires_grad();
    auto part = [&](int64_t i) { return h.select(2, i).permute({0, 2, 1, 3}); };  // [2, 3, 81, 16]
    auto kb = [&] { return part(1).narrow(1, 1, 1); };                          // [2, 1, 81, 16]
    auto dout = Tensor<float>::randn({2, 81, 3, 16}, g).permute({0, 2, 1, 3});
    auto fused = scaled_dot_product_attention(part(0), kb(), part(2), {}, causal);
    fused.backward(dout);
    auto gh = h.grad();
    h.zero_grad();
    auto ref = detail::attention_composed(part(0), kb(), part(2), {}, causal);
    ref.backward(dout);
    auto x = fused.to_vector(), y = ref.to_vector(), gx = gh.to_vector(), gy = h.grad().to_vector();
    REQUIRE(x.size() == y.size());
    for (size_t i = 0; i < x.size(); ++i) REQUIRE(x[i] == Approx(y[i]).margin(2e-5).epsilon(1e-4));
    for (size_t i = 0; i < gx.size(); ++i) REQUIRE(gx[i] == Approx(gy[i]).margin(2e-5).epsilon(1e-4));
  }
  // no queries: keys and values get zero gradients (there is no row block to write them)
  auto q = Tensor<float>::randn({2, 0, 16}, g).set_requires_grad();
  auto k = Tensor<float>::randn({2, 5, 16}, g).set_requires_grad();
  auto v = Tensor<float>::randn({2, 5, 8}, g).set_requires_grad();
  auto out = scaled_dot_product_attention(q, k, v);
  REQUIRE(out.shape() == Shape{2, 0, 8});
  sum(out).backward();
  for (float x : k.grad().to_vector()) REQUIRE(x == 0.0f);
  for (float x : v.grad().to_vector()) REQUIRE(x == 0.0f);
}
