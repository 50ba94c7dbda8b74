// The vectorised float exp (and the row reductions built on it) against std::exp and plain loops.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "unigen/backend/cpu/vec_math.hpp"
#include "unigen/ops/elementwise.hpp"

namespace {

// Distance in units in the last place between two finite floats of the same sign (or zero).
int64_t ulp_distance(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, sizeof a);
  std::memcpy(&ib, &b, sizeof b);
  return ia > ib ? int64_t(ia) - ib : int64_t(ib) - ia;
}

// exp of x correctly rounded to float (computed in double).
float exp_ref(float x) { return float(std::exp(double(x))); }

// The row kernels vec_kernels should hand out under kernel family k: a clone where the build's vectors
// are narrower than k's (x86-64 builds without -march=native), else the build's own.
const unigen::cpu::VecKernels* expected_kernels(const std::string& k) {
  namespace c = unigen::cpu;
#if defined(UNIGEN_VEC_CLONES)
  if (k == "avx512") return &c::vec_avx512::kernels;
#if UNIGEN_VEC_BUILD < 256
  if (k == "avx2") return &c::vec_avx2::kernels;
#endif
#endif
  (void)k;
  return &c::vec_build::kernels;
}

using unigen::testing::cpu_kernels;
using unigen::testing::KernelGuard;

// y = exp(x) over [n] through the dispatched kernels (row_exp_sum with shift 0: x − 0 is x).
void exp_row(const float* x, float* y, int64_t n) { unigen::cpu::row_exp_sum(x, y, n, 0.0f); }

}  // namespace

TEST_CASE("vectorised exp is within 2 ulp of std::exp from -110 to 90", "[vec_math]") {
  std::vector<float> x;
  for (float v = -110.0f; v <= 90.0f; v += 0.0137f) x.push_back(v);
  for (float v = -1.0f; v <= 1.0f; v += 1.0f / 4096) x.push_back(v);  // near 0, where exp ≈ 1 + x
  std::vector<float> y(x.size());
  for (const auto& kernel : cpu_kernels()) {
    KernelGuard guard(kernel);
    INFO("kernel family " << kernel);
    exp_row(x.data(), y.data(), int64_t(x.size()));
    int64_t worst = 0;
    float worst_x = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      float ref = exp_ref(x[i]);
      // the vector lanes and the scalar tail (a row of one) compute the same thing
      float s;
      exp_row(&x[i], &s, 1);
      REQUIRE(std::memcmp(&y[i], &s, sizeof s) == 0);
      if (std::isinf(ref)) {
        REQUIRE(std::isinf(y[i]));
        continue;
      }
      int64_t d = ulp_distance(y[i], ref);
      if (d > worst) worst = d, worst_x = x[i];
    }
    INFO("worst ulp " << worst << " at x = " << worst_x);
    CHECK(worst <= 2);
  }
}

TEST_CASE("vectorised exp: limits and special values", "[vec_math]") {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = {-inf, -1e30f, -1000.0f, -104.0f, -103.9f, -87.5f, 0.0f, -0.0f, 88.7f, 88.8f, 1000.0f, inf,
                          std::numeric_limits<float>::quiet_NaN(), 1.0f, -1.0f, 0.5f, 2.0f};
  std::vector<float> y(x.size());
  for (const auto& kernel : cpu_kernels()) {
    KernelGuard guard(kernel);
    exp_row(x.data(), y.data(), int64_t(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      INFO("kernel family " << kernel << ", x = " << x[i] << " -> " << y[i]);
      if (std::isnan(x[i])) {
        CHECK(std::isnan(y[i]));
      } else if (x[i] < -103.98f) {
        CHECK(y[i] == 0.0f);
      } else if (x[i] > 88.73f) {
        CHECK(y[i] == inf);
      } else {
        CHECK(ulp_distance(y[i], exp_ref(x[i])) <= 2);
      }
    }
  }
  CHECK(unigen::cpu::exp_scalar(0.0f) == 1.0f);
  CHECK(unigen::cpu::exp_scalar(-inf) == 0.0f);
}

// exp of a very negative x (-inf: a masked softmax score) is 0 without an underflow: on Intel cores each
// underflowing lane costs a microcode assist. The underflow flag shows whether one was computed. The
// exps must happen at run time: the inputs pass through a volatile (no folding), and every output is
// read (clang 14 with -march=native dropped the exps of the unread outputs below, so their computed
// underflow went unseen).
TEST_CASE("vectorised exp: inputs below the range give 0 without an underflow", "[vec_math]") {
  const float inf = std::numeric_limits<float>::infinity();
  const auto opaque = [](float v) {
    volatile float t = v;
    return float(t);
  };
  for (const auto& kernel : cpu_kernels()) {
    KernelGuard guard(kernel);
    for (int64_t n : {1, 7, 16, 37}) {  // the scalar tail and the vector lanes
      const auto len = static_cast<size_t>(n);
      std::vector<float> x(len), y(len, 1.0f);
      for (int64_t j = 0; j < n; ++j) x[size_t(j)] = opaque(j % 3 == 0 ? -inf : j % 3 == 1 ? -1e30f : -104.5f);
      std::feclearexcept(FE_ALL_EXCEPT);
      exp_row(x.data(), y.data(), n);
      const bool underflow = std::fetestexcept(FE_UNDERFLOW);
      INFO("kernel family " << kernel << ", n = " << n);
      CHECK_FALSE(underflow);
      for (float v : y) CHECK(v == 0.0f);
    }
    // the flag does show a computed underflow: exp(-100) is subnormal
    std::vector<float> x(37, opaque(-100.0f)), y(37);
    std::feclearexcept(FE_ALL_EXCEPT);
    exp_row(x.data(), y.data(), 37);
    INFO("kernel family " << kernel);
    CHECK(std::fetestexcept(FE_UNDERFLOW));
    for (float v : y) CHECK(ulp_distance(v, exp_ref(-100.0f)) <= 1);  // subnormal: 27 × 2^-149
  }
}

TEST_CASE("dispatched row kernels: vec_kernels hands out the set for the selected kernel family", "[vec_math]") {
  for (const auto& k : cpu_kernels()) {
    KernelGuard g(k);
    INFO("kernel family " << k);
    CHECK(&unigen::cpu::vec_kernels() == expected_kernels(k));
    // the name: the wider of the build's vectors and the family's (NEON or none on Arm)
#if defined(__aarch64__)
    const std::string want = UNIGEN_VEC_BUILD ? "neon" : "scalar";
#else
    const int width = std::max(k == "avx512" ? 512 : k == "avx2" ? 256 : 0, UNIGEN_VEC_BUILD);
    const std::string want = width == 512 ? "avx512" : width == 256 ? "avx2" : width == 128 ? "sse2" : "scalar";
#endif
    CHECK(unigen::cpu::row_kernel_name() == want);
  }
}

TEST_CASE("row reductions match plain loops for every length, type and kernel family", "[vec_math]") {
  for (const auto& kernel : cpu_kernels())
    for (int64_t n : {0, 1, 7, 15, 16, 17, 31, 33, 64, 81, 100, 1000}) {
      KernelGuard guard(kernel);
      const auto len = static_cast<size_t>(n);
      std::vector<float> a(len), b(len), e(len);
      std::vector<double> ad(len);
      for (int64_t j = 0; j < n; ++j) {
        a[size_t(j)] = float(std::sin(0.37 * double(j)) * 5.0);
        b[size_t(j)] = float(std::cos(0.11 * double(j)));
        ad[size_t(j)] = double(a[size_t(j)]);
      }
      double mx = -std::numeric_limits<double>::infinity(), sum = 0, dot = 0, es = 0;
      for (int64_t j = 0; j < n; ++j) {
        mx = std::max(mx, double(a[size_t(j)]));
        sum += a[size_t(j)];
        dot += double(a[size_t(j)]) * b[size_t(j)];
      }
      for (int64_t j = 0; j < n; ++j) es += std::exp(double(a[size_t(j)]) - 1.5);
      INFO("kernel family " << kernel << ", n = " << n);
      CHECK(unigen::cpu::row_max(a.data(), n) == float(mx));
      CHECK(unigen::cpu::row_max(ad.data(), n) == mx);
      // The max found in every lane of the vector loop and in the tail.
      std::vector<float> spike(size_t(n), -1.f);
      for (int64_t pos = 0; pos < n; ++pos) {
        spike[size_t(pos)] = 7.f;
        if (unigen::cpu::row_max(spike.data(), n) != 7.f) FAIL("max at position " << pos << " of " << n << " missed");
        spike[size_t(pos)] = -7.f;  // the min, through sign = -1
        if (-unigen::cpu::row_max(spike.data(), n, -1) != -7.f)
          FAIL("min at position " << pos << " of " << n << " missed");
        spike[size_t(pos)] = std::numeric_limits<float>::quiet_NaN();
        if (!std::isnan(unigen::cpu::row_max(spike.data(), n)) ||
            !std::isnan(unigen::cpu::row_max(spike.data(), n, -1)))
          FAIL("NaN at position " << pos << " of " << n << " missed");
        spike[size_t(pos)] = -1.f;
      }
      CHECK(unigen::cpu::row_sum(a.data(), n) == Approx(sum).margin(1e-4));
      CHECK(unigen::cpu::row_dot(a.data(), b.data(), n) == Approx(dot).margin(1e-4));
      double sq = 0;
      for (int64_t j = 0; j < n; ++j) sq += (double(a[size_t(j)]) - 0.25) * (double(a[size_t(j)]) - 0.25);
      CHECK(unigen::cpu::row_sq_dev(a.data(), n, 0.25f) == Approx(sq).epsilon(1e-5));
      CHECK(unigen::cpu::row_exp_sum(a.data(), e.data(), n, 1.5f) == Approx(es).epsilon(1e-5));
      CHECK(unigen::cpu::row_exp_sum(ad.data(), static_cast<double*>(nullptr), n, 1.5) == Approx(es).epsilon(1e-12));
      for (int64_t j = 0; j < n; ++j) CHECK(e[size_t(j)] == Approx(std::exp(double(a[size_t(j)]) - 1.5)).epsilon(3e-7));
    }
}

// layer_norm's row kernels on floats (dispatched) against the same functions on doubles, forward and
// backward, for row lengths across the vector widths and every kernel family; streamed rows too.
TEST_CASE("layer_norm rows match the double computation for every length and kernel family", "[vec_math]") {
  namespace c = unigen::cpu;
  for (const auto& kernel : cpu_kernels())
    for (int64_t n : {1, 7, 16, 17, 33, 81, 256, 1000})
      for (bool stream : {false, true}) {
        KernelGuard guard(kernel);
        INFO("kernel family " << kernel << ", n = " << n << ", stream " << stream);
        const auto len = static_cast<size_t>(n);
        std::vector<float> x(len), w(len), b(len), g(len), y(len), gx(len), gw(len, 0.5f), gb(len, -0.5f);
        std::vector<double> xd(len), wd(len), bd(len), gd(len), yd(len), gxd(len), gwd(len, 0.5), gbd(len, -0.5);
        for (size_t j = 0; j < len; ++j) {
          xd[j] = x[j] = float(std::sin(0.7 * double(j)) * 3.0 + 1.0);
          wd[j] = w[j] = float(1.0 + 0.25 * std::cos(0.3 * double(j)));
          bd[j] = b[j] = float(0.1 * double(j % 5));
          gd[j] = g[j] = float(std::cos(1.3 * double(j)));
        }
        const auto [m, rstd] = c::layer_norm_row(x.data(), y.data(), w.data(), b.data(), n, 1e-5, stream);
        const auto [md, rstdd] = c::layer_norm_row(xd.data(), yd.data(), wd.data(), bd.data(), n, 1e-5, false);
        c::layer_norm_backward_row(x.data(), g.data(), w.data(), gx.data(), n, m, rstd, gw.data(), gb.data(), stream);
        c::layer_norm_backward_row(xd.data(), gd.data(), wd.data(), gxd.data(), n, md, rstdd, gwd.data(), gbd.data(),
                                   false);
        c::stream_fence();
        CHECK(m == Approx(md).epsilon(1e-5).margin(1e-6));
        CHECK(rstd == Approx(rstdd).epsilon(1e-5));
        for (size_t j = 0; j < len; ++j) {
          CHECK(y[j] == Approx(yd[j]).epsilon(1e-5).margin(1e-5));
          CHECK(gx[j] == Approx(gxd[j]).epsilon(1e-4).margin(1e-4));
          CHECK(gw[j] == Approx(gwd[j]).epsilon(1e-5).margin(1e-5));
          CHECK(gb[j] == Approx(gbd[j]).epsilon(1e-6).margin(1e-6));
        }
      }
}

TEST_CASE("select_row keeps the kept entries and fills the others, for every length, type and kernel family",
          "[vec_math]") {
  const float ninf = -std::numeric_limits<float>::infinity();
  for (const auto& kernel : cpu_kernels())
    for (int64_t n : {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 64, 81, 100}) {
      KernelGuard guard(kernel);
      INFO("kernel " << kernel << ", n = " << n);
      // the bools read from an odd address, in a pattern that is not periodic in 8 or 16
      const auto len = static_cast<size_t>(n);
      auto keep = std::make_unique<bool[]>(len + 1);
      std::vector<float> row(len), want(len);
      std::vector<double> rowd(len);
      for (int64_t j = 0; j < n; ++j) {
        keep[size_t(j) + 1] = (j * 7 + j / 5) % 3 != 0;
        row[size_t(j)] = rowd[size_t(j)] = float(j) - 40.0f;
        want[size_t(j)] = keep[size_t(j) + 1] ? row[size_t(j)] : ninf;
      }
      unigen::cpu::select_row(keep.get() + 1, row.data(), n, ninf);
      unigen::cpu::select_row(keep.get() + 1, rowd.data(), n, double(ninf));
      for (int64_t j = 0; j < n; ++j) {
        CHECK(row[size_t(j)] == want[size_t(j)]);
        CHECK(rowd[size_t(j)] == double(want[size_t(j)]));
      }
    }
}

TEST_CASE("dropout's mask pairs follow Generator::stream, for every length, type and kernel family", "[vec_math]") {
  const uint64_t key = 0x0123456789abcdefull, cut = uint64_t(0.3 * 4294967296.0);
  for (const auto& kernel : cpu_kernels())
    for (int64_t j0 : {0, 5})
      for (int64_t pairs : {0, 1, 7, 8, 9, 15, 16, 17, 33, 100}) {
        KernelGuard guard(kernel);
        INFO("kernel " << kernel << ", pairs " << j0 << " + " << pairs);
        const auto len = static_cast<size_t>(2 * pairs);
        std::vector<float> m(len + 1, -1.0f);  // one more element, to see that nothing is written past the end
        std::vector<double> md(len, -1.0);
        unigen::cpu::dropout_pairs(m.data(), j0, pairs, key, cut, 2.5f);
        unigen::cpu::dropout_pairs(md.data(), j0, pairs, key, cut, 2.5);
        int dropped = 0;
        for (size_t i = 0; i < len; ++i) {
          const uint64_t r = unigen::Generator::stream(key, uint64_t(j0) + i / 2);
          const float want = ((i % 2 ? r >> 32 : r & 0xffffffffu) < cut) ? 0.0f : 2.5f;
          dropped += want == 0.0f;
          CHECK(m[i] == want);
          CHECK(md[i] == double(want));
        }
        CHECK(m[len] == -1.0f);
        if (pairs == 100) CHECK((dropped > 30 && dropped < 90));  // about 0.3 of 200
      }
}

// far in the left tail float rounding of z² alone costs relative accuracy (values there are below 1e-12)
TEST_CASE("vectorised GELU and its derivative match the erf form, for every kernel family", "[vec_math]") {
  std::vector<float> x, y, dy, ones;
  for (float v = -12.0f; v <= 12.0f; v += 0.003f) x.push_back(v);
  const auto len = x.size();
  y.resize(len), dy.resize(len), ones.assign(len, 1.0f);
  const int64_t n = int64_t(len);
  for (const auto& kernel : cpu_kernels()) {
    KernelGuard guard(kernel);
    unigen::cpu::gelu_row(y.data(), x.data(), n);
    unigen::cpu::gelu_grad_row(dy.data(), x.data(), ones.data(), n);
    for (size_t i = 0; i < len; ++i) {
      const double v = x[i], cdf = 0.5 * std::erfc(-v * M_SQRT1_2);
      const double ref = v * cdf, dref = cdf + v * std::exp(-0.5 * v * v) / std::sqrt(2 * M_PI);
      INFO("kernel family " << kernel << ", x = " << v);
      REQUIRE(y[i] == Approx(ref).epsilon(1e-5).margin(1e-12));
      REQUIRE(dy[i] == Approx(dref).epsilon(1e-5).margin(1e-6));  // Φ + x·φ cancels near x = -0.75
    }
  }
}

TEST_CASE("float gelu (vectorised) equals the double erf form, forward and backward, on a strided view", "[vec_math]") {
  using unigen::Tensor;
  unigen::Generator gen(5);
  auto xd = Tensor<double>::randn({37, 19}, gen, 0.0, 3.0);
  auto xf = xd.to<float>().mT().set_requires_grad();  // a transposed view: not contiguous
  auto gd = Tensor<double>::randn({19, 37}, gen);
  auto xdt = xd.mT().set_requires_grad();
  auto yf = unigen::gelu(xf);
  auto yd = unigen::gelu(xdt);
  yf.backward(gd.to<float>());
  yd.backward(gd);
  auto a = yf.to_vector(), ga = xf.grad().to_vector();
  auto b = yd.to_vector(), gb = xdt.grad().to_vector();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i] == Approx(b[i]).epsilon(1e-5).margin(1e-6));
    REQUIRE(ga[i] == Approx(gb[i]).epsilon(1e-5).margin(1e-5));
  }
}

// Streamed rows (non-temporal stores after a scalar head up to the vector alignment) hold exactly what
// plain stores write, for every length and start offset, and nothing outside the row is touched.
TEST_CASE("map_row with non-temporal stores writes what plain stores write", "[vec_math]") {
  constexpr int64_t pad = 32;
  std::vector<float> a(300), b(300), c(300);
  for (size_t i = 0; i < a.size(); ++i)
    a[i] = float(i) * 0.37f - 20.0f, b[i] = 1.0f + float(i % 7), c[i] = -float(i % 5);
  const auto f = [](auto u, auto v, auto w) { return (u - 0.5f) * 1.25f * v + w; };
  for (int64_t off = 0; off < 17; ++off)
    for (int64_t n : {0, 1, 7, 15, 16, 17, 33, 64, 100, 257}) {
      std::vector<float> plain(size_t(n + 2 * pad), std::nanf("")), streamed = plain;
      float* yp = plain.data() + pad + off;  // off covers every float position within 64 bytes
      float* ys = streamed.data() + pad + off;
      unigen::cpu::map_row(yp, n, false, f, a.data(), b.data(), c.data());
      unigen::cpu::map_row(ys, n, true, f, a.data(), b.data(), c.data());
      unigen::cpu::stream_fence();
      INFO("n = " << n << ", offset = " << off);
      for (size_t i = 0; i < plain.size(); ++i) {
        const bool inside = streamed.data() + i >= ys && streamed.data() + i < ys + n;
        if (!inside) REQUIRE(std::isnan(streamed[i]));
        else REQUIRE(std::memcmp(&streamed[i], &plain[i], sizeof(float)) == 0);
      }
    }
}
