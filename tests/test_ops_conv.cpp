// conv2d, conv_transpose2d, upsample_nearest2d and avg_pool2d: gradient checks, forward values against
// direct nested-loop definitions, the adjoint relation between the two convolutions, and shape errors.
#include <cmath>
#include <vector>

#include "op_table.hpp"
#include "unigen/ops/conv.hpp"
#include "unigen/ops/pool.hpp"

using namespace unigen;
using testing::Inputs;
using testing::OpCase;

namespace {

// The direct definition: out[n, co, y, x] = b[co] + Σ x[n, ci, y·s − p + i·d, x·s − p + j·d]·w[co, ci, i, j].
template <class T>
Tensor<double> conv2d_ref(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b, const Conv2dOptions& o) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t CO = w.size(0), KH = w.size(2), KW = w.size(3);
  const int64_t OH = (H + 2 * o.padding.h - o.dilation.h * (KH - 1) - 1) / o.stride.h + 1;
  const int64_t OW = (W + 2 * o.padding.w - o.dilation.w * (KW - 1) - 1) / o.stride.w + 1;
  auto out = Tensor<double>::zeros({N, CO, OH, OW});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t co = 0; co < CO; ++co)
      for (int64_t y = 0; y < OH; ++y)
        for (int64_t xx = 0; xx < OW; ++xx) {
          double s = b.defined() ? double(b.at({co})) : 0.0;
          for (int64_t ci = 0; ci < C; ++ci)
            for (int64_t i = 0; i < KH; ++i)
              for (int64_t j = 0; j < KW; ++j) {
                int64_t iy = y * o.stride.h - o.padding.h + i * o.dilation.h;
                int64_t ix = xx * o.stride.w - o.padding.w + j * o.dilation.w;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                  s += double(x.at({n, ci, iy, ix})) * double(w.at({co, ci, i, j}));
              }
          out.set({n, co, y, xx}, s);
        }
  return out;
}

// The scatter definition: each x[n, ci, iy, ix]·w[ci, co, i, j] lands at (iy·s − p + i·d, ix·s − p + j·d).
template <class T>
Tensor<double> conv_transpose2d_ref(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b,
                                    const ConvTranspose2dOptions& o) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t CO = w.size(1), KH = w.size(2), KW = w.size(3);
  const int64_t OH = (H - 1) * o.stride.h - 2 * o.padding.h + o.dilation.h * (KH - 1) + o.output_padding.h + 1;
  const int64_t OW = (W - 1) * o.stride.w - 2 * o.padding.w + o.dilation.w * (KW - 1) + o.output_padding.w + 1;
  auto out = Tensor<double>::zeros({N, CO, OH, OW});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t co = 0; co < CO; ++co) {
      for (int64_t y = 0; y < OH; ++y)
        for (int64_t xx = 0; xx < OW; ++xx) out.set({n, co, y, xx}, b.defined() ? double(b.at({co})) : 0.0);
      for (int64_t ci = 0; ci < C; ++ci)
        for (int64_t iy = 0; iy < H; ++iy)
          for (int64_t ix = 0; ix < W; ++ix)
            for (int64_t i = 0; i < KH; ++i)
              for (int64_t j = 0; j < KW; ++j) {
                int64_t y = iy * o.stride.h - o.padding.h + i * o.dilation.h;
                int64_t xx = ix * o.stride.w - o.padding.w + j * o.dilation.w;
                if (y >= 0 && y < OH && xx >= 0 && xx < OW)
                  out.set({n, co, y, xx},
                          out.at({n, co, y, xx}) + double(x.at({n, ci, iy, ix})) * double(w.at({ci, co, i, j})));
              }
    }
  return out;
}

// Mean over each window, padded zeros included in the count.
template <class T>
Tensor<double> avg_pool2d_ref(const Tensor<T>& x, Size2 k, Size2 s, Size2 p) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = (H + 2 * p.h - k.h) / s.h + 1, OW = (W + 2 * p.w - k.w) / s.w + 1;
  auto out = Tensor<double>::zeros({N, C, OH, OW});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < OH; ++y)
        for (int64_t xx = 0; xx < OW; ++xx) {
          double sum = 0;
          for (int64_t i = 0; i < k.h; ++i)
            for (int64_t j = 0; j < k.w; ++j) {
              int64_t iy = y * s.h - p.h + i, ix = xx * s.w - p.w + j;
              if (iy >= 0 && iy < H && ix >= 0 && ix < W) sum += double(x.at({n, c, iy, ix}));
            }
          out.set({n, c, y, xx}, sum / double(k.h * k.w));
        }
  return out;
}

template <class T>
void require_close(const Tensor<T>& got, const Tensor<double>& want, double tol) {
  REQUIRE(got.shape() == want.shape());
  std::vector<T> g = got.to_vector();
  std::vector<double> w = want.to_vector();
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("element " << i);
    REQUIRE(double(g[i]) == Approx(w[i]).margin(tol).epsilon(tol));
  }
}

double dot(const Tensor<double>& a, const Tensor<double>& b) {
  std::vector<double> av = a.to_vector(), bv = b.to_vector();
  REQUIRE(av.size() == bv.size());
  double s = 0;
  for (size_t i = 0; i < av.size(); ++i) s += av[i] * bv[i];
  return s;
}

Conv2dOptions conv_opts(Size2 s, Size2 p, Size2 d) {
  Conv2dOptions o;
  o.stride = s;
  o.padding = p;
  o.dilation = d;
  return o;
}

ConvTranspose2dOptions tconv_opts(Size2 s, Size2 p, Size2 op, Size2 d) {
  ConvTranspose2dOptions o;
  o.stride = s;
  o.padding = p;
  o.output_padding = op;
  o.dilation = d;
  return o;
}

}  // namespace

TEST_CASE("gradient check: conv2d, conv_transpose2d, upsample_nearest2d, avg_pool2d", "[gradcheck]") {
  std::vector<OpCase> rows = {
      {"conv2d", {{2, 3, 5, 5}, {2, 3, 3, 3}, {2}}, [](const Inputs& x) { return conv2d(x[0], x[1], x[2]); }},
      {"conv2d no bias", {{-1, 2, 4, 5}, {-2, 2, 2, 3}}, [](const Inputs& x) { return conv2d(x[0], x[1]); }},
      {"conv2d stride 2 padding 1", {{2, 2, 6, 5}, {3, 2, 3, 3}, {3}},
       [](const Inputs& x) { return conv2d(x[0], x[1], x[2], conv_opts(2, 1, 1)); }},
      {"conv2d dilation 2", {{1, 2, 6, 6}, {2, 2, 2, 3}, {2}},
       [](const Inputs& x) { return conv2d(x[0], x[1], x[2], conv_opts(1, {1, 0}, 2)); }},
      {"conv2d mixed (h, w) options", {{1, 2, 5, 6}, {2, 2, 2, 2}},
       [](const Inputs& x) { return conv2d(x[0], x[1], {}, conv_opts({2, 1}, {0, 2}, {1, 2})); }},
      {"conv_transpose2d stride 2 padding 1 output_padding 1", {{2, 3, 3, 3}, {3, 2, 3, 3}, {2}},
       [](const Inputs& x) { return conv_transpose2d(x[0], x[1], x[2], tconv_opts(2, 1, 1, 1)); }},
      {"conv_transpose2d no bias dilation 2", {{1, 2, 3, 4}, {2, 3, 2, 2}},
       [](const Inputs& x) { return conv_transpose2d(x[0], x[1], {}, tconv_opts(1, {0, 1}, 0, 2)); }},
      {"conv2d into conv_transpose2d", {{1, 2, 4, 4}, {3, 2, 3, 3}, {3, 2, 2, 2}},
       [](const Inputs& x) {
         return conv_transpose2d(tanh(conv2d(x[0], x[1], {}, conv_opts(1, 1, 1))), x[2], {}, tconv_opts(2, 0, 0, 1));
       }},
      {"upsample_nearest2d", {{-1, -2, -3, -4}}, [](const Inputs& x) { return upsample_nearest2d(x[0], 2, 3); }},
      {"avg_pool2d", {{-1, 2, 4, 6}}, [](const Inputs& x) { return avg_pool2d(x[0], 2); }},
      {"avg_pool2d stride 2 padding 1", {{2, -1, 5, 6}},
       [](const Inputs& x) { return avg_pool2d(x[0], {3, 2}, Size2{2, 1}, {1, 1}); }},
  };
  testing::run_gradcheck_table(rows);
}

TEMPLATE_TEST_CASE("conv2d and conv_transpose2d equal the direct definitions", "[conv]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  Generator g(11);
  struct Case {
    Size2 s, p, d;
    Shape x, w;
  };
  std::vector<Case> cases = {
      {1, 0, 1, {2, 3, 7, 6}, {4, 3, 3, 3}},
      {2, 1, 1, {2, 3, 8, 7}, {5, 3, 3, 3}},
      {1, 2, 2, {1, 2, 6, 6}, {3, 2, 3, 3}},
      {{2, 3}, {1, 0}, {1, 2}, {2, 2, 9, 10}, {3, 2, 2, 3}},
      {3, 1, 1, {1, 4, 5, 5}, {2, 4, 1, 1}},
      {1, 0, 1, {1, 3, 4, 4}, {2, 3, 4, 4}},
      {1, 1, 1, {4, 16, 12, 12}, {24, 16, 3, 3}},  // big enough to run the OpenMP loops
  };
  for (const auto& c : cases) {
    INFO("x " << shape_str(c.x) << " w " << shape_str(c.w) << " stride " << shape_str(c.s.shape()) << " padding "
              << shape_str(c.p.shape()) << " dilation " << shape_str(c.d.shape()));
    auto x = Tensor<T>::randn(c.x, g), w = Tensor<T>::randn(c.w, g), b = Tensor<T>::randn({c.w[0]}, g);
    auto o = conv_opts(c.s, c.p, c.d);
    require_close(conv2d(x, w, b, o), conv2d_ref(x, w, b, o), tol);
    require_close(conv2d(x, w, {}, o), conv2d_ref(x, w, Tensor<T>(), o), tol);
    // the transpose with the same geometry: w read as [C_in, C_out, kH, kW]
    for (int64_t op = 0; op < std::max(c.s.h, c.d.h) && op < 2; ++op) {
      auto to = tconv_opts(c.s, c.p, Size2{op, 0}, c.d);
      auto bt = Tensor<T>::randn({c.w[1]}, g);
      int64_t H = c.x[2] / 2 + 1, W = c.x[3] / 2 + 1;
      if ((H - 1) * c.s.h - 2 * c.p.h + c.d.h * (c.w[2] - 1) + 1 < 1) continue;
      if ((W - 1) * c.s.w - 2 * c.p.w + c.d.w * (c.w[3] - 1) + 1 < 1) continue;
      auto xt = Tensor<T>::randn({c.x[0], c.w[0], H, W}, g);
      require_close(conv_transpose2d(xt, w, bt, to), conv_transpose2d_ref(xt, w, bt, to), tol);
    }
  }
  // a non-contiguous input and weight read the same values
  auto x = Tensor<T>::randn({5, 5, 2, 3}, g).permute({2, 3, 0, 1}), w = Tensor<T>::randn({3, 3, 3, 2}, g).mT();
  require_close(conv2d(x, w, {}, conv_opts(1, 1, 1)), conv2d_ref(x, w, Tensor<T>(), conv_opts(1, 1, 1)), tol);
}

TEST_CASE("conv_transpose2d is the adjoint of conv2d: <conv2d(x, w), y> = <x, conv_transpose2d(y, w)>", "[conv]") {
  Generator g(5);
  struct Case {
    Size2 s, p, d;
    Shape x, w;
  };
  std::vector<Case> cases = {
      {1, 0, 1, {2, 3, 6, 6}, {4, 3, 3, 3}},   {2, 1, 1, {2, 3, 8, 7}, {2, 3, 3, 3}},
      {2, 0, 2, {1, 2, 9, 8}, {3, 2, 3, 2}},   {{3, 2}, {1, 2}, {2, 1}, {2, 2, 10, 7}, {3, 2, 3, 4}},
      {4, 1, 1, {1, 3, 9, 9}, {2, 3, 2, 2}},
  };
  for (const auto& c : cases) {
    INFO("x " << shape_str(c.x) << " w " << shape_str(c.w));
    auto x = Tensor<double>::randn(c.x, g), w = Tensor<double>::randn(c.w, g);
    auto o = conv_opts(c.s, c.p, c.d);
    auto y = conv2d(x, w, {}, o);
    auto r = Tensor<double>::randn(y.shape(), g);
    // output_padding restores the rows and columns conv2d's floor division dropped
    const int64_t kh = c.w[2], kw = c.w[3];
    Size2 op{(c.x[2] + 2 * c.p.h - c.d.h * (kh - 1) - 1) % c.s.h, (c.x[3] + 2 * c.p.w - c.d.w * (kw - 1) - 1) % c.s.w};
    auto xt = conv_transpose2d(r, w, {}, tconv_opts(c.s, c.p, op, c.d));
    REQUIRE(xt.shape() == x.shape());
    double lhs = dot(y, r), rhs = dot(x, xt);
    REQUIRE(lhs == Approx(rhs).epsilon(1e-12));
  }
}

TEMPLATE_TEST_CASE("upsample_nearest2d and avg_pool2d equal the direct definitions", "[pool]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-14;
  Generator g(2);
  auto x = Tensor<T>::randn({2, 3, 4, 5}, g);
  auto up = upsample_nearest2d(x, 2, 3);
  REQUIRE(up.shape() == Shape{2, 3, 8, 15});
  for (int64_t i = 0; i < 8; ++i)
    for (int64_t j = 0; j < 15; ++j) REQUIRE(up.at({1, 2, i, j}) == x.at({1, 2, i / 2, j / 3}));
  REQUIRE(upsample_nearest2d(x, 2).shape() == Shape{2, 3, 8, 10});
  auto big = Tensor<T>::randn({4, 8, 48, 48}, g);
  require_close(avg_pool2d(big, 2), avg_pool2d_ref(big, 2, 2, 0), tol);
  require_close(avg_pool2d(x, 2), avg_pool2d_ref(x, 2, 2, 0), tol);
  require_close(avg_pool2d(x, 3, 1, 1), avg_pool2d_ref(x, 3, 1, 1), tol);
  require_close(avg_pool2d(x, {2, 3}, Size2{3, 2}, {1, 1}), avg_pool2d_ref(x, {2, 3}, {3, 2}, {1, 1}), tol);
  // the pooled mean of an upsampled image is the image itself
  require_close(avg_pool2d(upsample_nearest2d(x, 2, 3), {2, 3}), x.template to<double>(), tol);
}

TEMPLATE_TEST_CASE("16-bit conv and pool ops compute in f32 and round once", "[conv][dtype]", bf16, f16) {
  using T = TestType;
  const double tol = std::is_same_v<T, bf16> ? 2e-2 : 4e-3;
  Generator g(9);
  auto x = Tensor<float>::randn({2, 3, 6, 6}, g).to<T>(), w = Tensor<float>::randn({4, 3, 3, 3}, g).to<T>();
  auto b = Tensor<float>::randn({4}, g).to<T>(), wt = Tensor<float>::randn({3, 2, 3, 3}, g).to<T>();
  require_close(conv2d(x, w, b, conv_opts(2, 1, 1)), conv2d_ref(x, w, b, conv_opts(2, 1, 1)), tol);
  auto to = tconv_opts(2, 1, 1, 1);
  require_close(conv_transpose2d(x, wt, {}, to), conv_transpose2d_ref(x, wt, Tensor<T>(), to), tol);
  require_close(avg_pool2d(x, 2), avg_pool2d_ref(x, 2, 2, 0), tol);
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  sum(avg_pool2d(upsample_nearest2d(conv2d(x, w, {}, conv_opts(1, 1, 1)), 2), 2)).backward();
  REQUIRE(x.grad().shape() == x.shape());
  REQUIRE(w.grad().shape() == w.shape());
}

TEST_CASE("conv2d records one graph node whose backward reaches x, w and bias", "[conv]") {
  auto x = Tensor<float>::randn({1, 2, 5, 5}).set_requires_grad(true);
  auto w = Tensor<float>::randn({3, 2, 3, 3}).set_requires_grad(true);
  auto b = Tensor<float>::randn({3}).set_requires_grad(true);
  auto y = conv2d(x, w, b);
  REQUIRE(y.grad_fn()->name == "conv2d");
  REQUIRE(y.grad_fn()->next.empty());  // x, w and b are leaves: no internal nodes in between
  y.backward(Tensor<float>::ones(y.shape()));
  REQUIRE(x.grad().shape() == x.shape());
  REQUIRE(w.grad().shape() == w.shape());
  REQUIRE(b.grad().to_vector() == std::vector<float>{9, 9, 9});
  NoGrad ng;
  REQUIRE(!conv2d(x, w, b).requires_grad());
}

TEST_CASE("conv and pool shape errors name the op and the shapes", "[errors]") {
  auto x = Tensor<float>::zeros({2, 3, 8, 8});
  CHECK_THROWS_WITH(conv2d(x, Tensor<float>::zeros({4, 5, 3, 3})),
                    Catch::Contains("conv2d: input [2, 3, 8, 8] has 3 channels but weight [4, 5, 3, 3] expects 5"));
  CHECK_THROWS_WITH(conv2d(Tensor<float>::zeros({3, 8, 8}), Tensor<float>::zeros({4, 3, 3, 3})),
                    Catch::Contains("conv2d") && Catch::Contains("[3, 8, 8]"));
  CHECK_THROWS_WITH(conv2d(x, Tensor<float>::zeros({4, 3, 3})), Catch::Contains("conv2d") && Catch::Contains("[4, 3, 3]"));
  CHECK_THROWS_WITH(conv2d(x, Tensor<float>::zeros({4, 3, 11, 3}), {}, conv_opts(1, 1, 1)),
                    Catch::Contains("conv2d") && Catch::Contains("[2, 3, 8, 8]") && Catch::Contains("[4, 3, 11, 3]"));
  CHECK_THROWS_WITH(conv2d(x, Tensor<float>::zeros({4, 3, 3, 3}), {}, conv_opts(1, 0, 4)),
                    Catch::Contains("conv2d") && Catch::Contains("[2, 3, 8, 8]") && Catch::Contains("[9, 9]"));
  CHECK_THROWS_WITH(conv2d(x, Tensor<float>::zeros({4, 3, 3, 3}), Tensor<float>::zeros({3})),
                    Catch::Contains("conv2d: bias [3]") && Catch::Contains("[4, 3, 3, 3]"));
  CHECK_THROWS_WITH(conv2d(x, Tensor<float>::zeros({4, 3, 3, 3}), {}, conv_opts(0, 0, 1)),
                    Catch::Contains("conv2d: stride [0, 0]"));
  CHECK_THROWS_WITH(conv_transpose2d(x, Tensor<float>::zeros({4, 2, 3, 3})),
                    Catch::Contains("conv_transpose2d: input [2, 3, 8, 8] has 3 channels but weight [4, 2, 3, 3] expects 4"));
  CHECK_THROWS_WITH(conv_transpose2d(Tensor<float>::zeros({3, 8, 8}), Tensor<float>::zeros({3, 2, 3, 3})),
                    Catch::Contains("conv_transpose2d") && Catch::Contains("[3, 8, 8]"));
  CHECK_THROWS_WITH(conv_transpose2d(Tensor<float>::zeros({1, 3, 1, 1}), Tensor<float>::zeros({3, 2, 1, 1}), {},
                                     tconv_opts(1, 1, 0, 1)),
                    Catch::Contains("conv_transpose2d") && Catch::Contains("[1, 3, 1, 1]") &&
                        Catch::Contains("[3, 2, 1, 1]"));
  CHECK_THROWS_WITH(conv_transpose2d(x, Tensor<float>::zeros({3, 2, 3, 3}), {}, tconv_opts(2, 0, 2, 1)),
                    Catch::Contains("conv_transpose2d: output_padding [2, 2]"));
  CHECK_THROWS_WITH(avg_pool2d(Tensor<float>::zeros({3, 8, 8}), 2), Catch::Contains("avg_pool2d") && Catch::Contains("[3, 8, 8]"));
  CHECK_THROWS_WITH(avg_pool2d(x, 9), Catch::Contains("avg_pool2d") && Catch::Contains("[2, 3, 8, 8]") &&
                                          Catch::Contains("[9, 9]"));
  CHECK_THROWS_WITH(avg_pool2d(x, 2, Size2{2}, 2), Catch::Contains("avg_pool2d: padding [2, 2]"));
  CHECK_THROWS_WITH(upsample_nearest2d(Tensor<float>::zeros({8, 8}), 2),
                    Catch::Contains("upsample_nearest2d") && Catch::Contains("[8, 8]"));
  CHECK_THROWS_WITH(upsample_nearest2d(x, 0, 2), Catch::Contains("upsample_nearest2d") && Catch::Contains("[2, 3, 8, 8]"));
}
