// cpu::sgemm / sgemm_batched against a plain double-precision loop, on every micro-kernel this CPU can
// run: all transpose combinations, odd sizes, padded strides, alpha/beta, batches, threads, bad arguments.
#include <omp.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "unigen/backend/cpu/gemm.hpp"
#include "unigen/core/tensor.hpp"

using unigen::cpu::sgemm;
using unigen::cpu::sgemm_batched;

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();

// A rows×cols matrix with row stride ld; the padding past cols holds NaN so reading it would show.
struct Mat {
  int64_t rows, cols, ld;
  std::vector<float> v;
  Mat(int64_t r, int64_t c, int64_t pad = 0) : rows(r), cols(c), ld(c + pad), v(size_t(std::max<int64_t>(r * (c + pad), 1)), kNaN) {}
  float& operator()(int64_t i, int64_t j) { return v[size_t(i * ld + j)]; }
  float operator()(int64_t i, int64_t j) const { return v[size_t(i * ld + j)]; }
};

// Small integers in [-3, 3] (exact sums in float for K < 2^24 / 9) or uniform reals in [-1, 1].
void fill(Mat& m, std::mt19937& rng, bool integers) {
  std::uniform_int_distribution<int> di(-3, 3);
  std::uniform_real_distribution<float> dr(-1.0f, 1.0f);
  for (int64_t i = 0; i < m.rows; ++i)
    for (int64_t j = 0; j < m.cols; ++j) m(i, j) = integers ? float(di(rng)) : dr(rng);
}

// C = alpha·op(A)·op(B) + beta·C (+ bias[j] on every row) in double; beta == 0 ignores C.
std::vector<double> reference(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const Mat& a,
                              const Mat& b, double beta, const Mat& c, const float* bias = nullptr) {
  std::vector<double> r(size_t(M * N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += double(ta ? a(k, i) : a(i, k)) * double(tb ? b(j, k) : b(k, j));
      r[size_t(i * N + j)] = alpha * s + (beta == 0 ? 0.0 : beta * double(c(i, j))) + (bias ? double(bias[j]) : 0.0);
    }
  return r;
}

// Runs one sgemm (with a bias row when `with_bias`) and compares: exactly for integer inputs, else within a
// K-scaled float tolerance. Also checks that C's padding was left alone.
void check_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, float beta, int64_t pad,
                bool integers, std::mt19937& rng, bool with_bias = false) {
  Mat a = ta ? Mat(K, M, pad) : Mat(M, K, pad), b = tb ? Mat(N, K, pad) : Mat(K, N, pad), c(M, N, pad), bias(1, N);
  fill(a, rng, integers);
  fill(b, rng, integers);
  if (beta != 0) fill(c, rng, integers);  // else C keeps its NaNs: beta == 0 must not read it
  if (with_bias) fill(bias, rng, integers);
  const float* bp = with_bias ? bias.v.data() : nullptr;
  const std::vector<double> want = reference(ta, tb, M, N, K, alpha, a, b, beta, c, bp);
  sgemm(ta, tb, M, N, K, alpha, a.v.data(), a.ld, b.v.data(), b.ld, beta, c.v.data(), c.ld, bp);
  INFO("kernel=" << unigen::cpu::cpu_kernel_name() << " transA=" << ta << " transB=" << tb << " M=" << M << " N=" << N
                 << " K=" << K << " alpha=" << alpha << " beta=" << beta << " pad=" << pad << " bias=" << with_bias
                 << " threads=" << omp_get_max_threads());
  const double tol = integers ? 0.0 : 1e-5 * std::sqrt(double(K) + 1) * 4;
  int64_t bad = 0;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      const double got = c(i, j), w = want[size_t(i * N + j)];
      if (!(std::abs(got - w) <= tol * std::max(1.0, std::abs(w)))) {
        if (bad++ < 3) FAIL_CHECK("C(" << i << ", " << j << ") = " << got << ", want " << w);
      }
    }
    for (int64_t j = N; j < c.ld && i + 1 < M; ++j)
      if (!std::isnan(c(i, j))) FAIL_CHECK("padding C(" << i << ", " << j << ") was written");
  }
  CHECK(bad == 0);
}

using unigen::testing::cpu_kernels;
using unigen::testing::KernelGuard;

}  // namespace

TEST_CASE("sgemm: every kernel, transpose combination and odd size matches the reference exactly", "[gemm]") {
  const int64_t sizes[][3] = {{1, 1, 1},     {7, 7, 7},     {33, 33, 33},  {1, 257, 33},  {257, 1, 7},
                              {7, 33, 257},  {33, 7, 1000}, {257, 257, 257}, {1000, 33, 7}, {7, 1000, 33},
                              {1000, 257, 33}, {33, 1000, 257}};
  for (const auto& k : cpu_kernels()) {
    KernelGuard g(k);
    REQUIRE(std::string(unigen::cpu::cpu_kernel_name()) == k);
    std::mt19937 rng(7);
    for (int t = 0; t < 4; ++t)
      for (const auto& s : sizes) check_gemm(t & 1, t & 2, s[0], s[1], s[2], 1.0f, 0.0f, 0, true, rng);
  }
}

TEST_CASE("sgemm: every width of the last column panel, with a partial last row panel (the edge tiles)", "[gemm]") {
  // M = 19 rows: past small_m_rows, so an untransposed A takes the packed path too; 3 panels of 6 and 1
  // row (4 of 4 and 3 on the generic kernel).
  static_assert(19 > unigen::cpu::gemm_detail::small_m_rows);
  for (const auto& k : cpu_kernels()) {
    KernelGuard g(k);
    std::mt19937 rng(5);
    for (int t = 0; t < 4; ++t)
      for (int64_t w = 1; w <= 64; ++w) {  // w columns alone, and after a full 64-column panel
        check_gemm(t & 1, t & 2, 19, w, 37, -1.0f, 0.5f, 3, true, rng);
        check_gemm(t & 1, t & 2, 19, 64 + w, 37, 1.5f, 0.0f, 3, true, rng);
      }
  }
}

TEST_CASE("sgemm: alpha, beta and padded leading dimensions", "[gemm]") {
  const float ab[][2] = {{1.0f, 1.0f}, {2.0f, -1.0f}, {-0.5f, 0.5f}, {0.0f, 3.0f}, {0.0f, 0.0f}, {1.5f, 0.0f}};
  for (const auto& k : cpu_kernels()) {
    KernelGuard g(k);
    std::mt19937 rng(11);
    for (int t = 0; t < 4; ++t)
      for (const auto& x : ab) {
        check_gemm(t & 1, t & 2, 37, 45, 300, x[0], x[1], 3, true, rng);
        check_gemm(t & 1, t & 2, 1, 1, 1, x[0], x[1], 1, true, rng);
      }
  }
}

TEST_CASE("sgemm: real-valued inputs, large K and M past the cache blocks", "[gemm]") {
  for (const auto& k : cpu_kernels()) {
    KernelGuard g(k);
    std::mt19937 rng(3);
    check_gemm(false, false, 129, 1000, 1000, 1.0f, 0.0f, 0, false, rng);
    check_gemm(true, true, 200, 67, 2049, 0.7f, 0.3f, 5, false, rng);
    check_gemm(false, true, 4200, 9, 3, 1.0f, 1.0f, 0, true, rng);  // M > MC
    check_gemm(true, false, 5, 1100, 1100, -1.0f, 0.0f, 1, true, rng);  // N > NC, K > 2·KC
  }
}

TEST_CASE("sgemm: a few rows (the in-place path), every row and column block, against either layout of B", "[gemm]") {
  // M <= small_m_rows takes gemm_small_m on AVX-512 and AVX2 (one more row the packed path): blocks of
  // 1-8 rows and the rest, 1-24 units of B (rows of a transposed B, vectors of 16 or 8 columns of an
  // untransposed one) and the pieces of a partial block; K short of, equal to and past the 16 lanes, and past the 256 rows of
  // an untransposed B that several row blocks take at a time (beta and bias on the first chunk only); an
  // untransposed B larger than L2 (2 MiB on the Xeon), taken 32 rows at a time outside the column blocks,
  // and split by K between threads (thread 0 applies beta and the bias; the partial products added after);
  // one row against a transposed B larger than L2, two rows of B at a time.
  const int64_t ns[] = {1, 5, 7, 23, 25, 100, 400}, ks[] = {1, 15, 16, 17, 300};
  for (const auto& k : cpu_kernels()) {
    KernelGuard g(k);
    std::mt19937 rng(5);
    for (bool tb : {true, false})
      for (int threads : {1, 2}) {
        omp_set_num_threads(threads);
        for (int64_t M = 1; M <= unigen::cpu::gemm_detail::small_m_rows + 1; ++M)
          for (int64_t N : ns)
            for (int64_t K : ks) check_gemm(false, tb, M, N, K, 1.0f, 0.0f, 0, true, rng);
        for (int64_t M : {1, 3, 4, 6})  // every tail of 8 and 16 lanes, in K (dot) and in N (axpy)
          for (int64_t x = 1; x <= 40; ++x) {
            check_gemm(false, tb, M, 7, x, 1.0f, 0.0f, 0, true, rng);
            check_gemm(false, tb, M, x, 5, 1.0f, 0.0f, 0, true, rng);
          }
        for (int64_t M : {1, 2, 3, 4, 5, 6, 7, 8, 13, 16}) {
          check_gemm(false, tb, M, 100, 300, 2.0f, -1.0f, 3, true, rng, true);
          check_gemm(false, tb, M, 37, 33, 0.5f, 0.0f, 1, true, rng, true);
          // B past L2: K in chunks outside the column blocks; on 2 threads the threads split K
          check_gemm(false, tb, M, 1000, 1000, 0.7f, 0.3f, 0, false, rng, true);
        }
        for (int64_t M : {5, 16})  // B past L2 and C rows past a quarter of it: column super-blocks
          check_gemm(false, tb, M, 9000, 301, 0.7f, 0.3f, 1, false, rng, true);
        // one row against a transposed B past L2 (8 MiB): two rows of B at a time, the last one alone
        check_gemm(false, tb, 1, 1001, 2100, 0.7f, 0.3f, 2, false, rng, true);
      }
    omp_set_num_threads(omp_get_num_procs());
  }
}

TEST_CASE("sgemm: a bias row is added once, on every kernel, thread split and K = 0", "[gemm]") {
  // {M, N, K}: edge tiles; K in several passes (bias added on the first only) with two threads splitting
  // N; N past the B block, split by two threads; two threads splitting M; K = 0 and alpha = 0 (C = beta·C
  // + bias without a product).
  const int64_t sizes[][3] = {{1, 1, 1}, {7, 33, 257}, {33, 67, 1100}, {7, 1000, 257}, {257, 130, 65}, {5, 9, 0}};
  const float ab[][2] = {{1.0f, 0.0f}, {2.0f, -1.0f}, {0.0f, 0.5f}};
  for (const auto& k : cpu_kernels()) {
    KernelGuard g(k);
    std::mt19937 rng(13);
    for (int threads : {1, 2}) {
      omp_set_num_threads(threads);
      for (int t = 0; t < 4; ++t)
        for (const auto& sz : sizes)
          for (const auto& x : ab) check_gemm(t & 1, t & 2, sz[0], sz[1], sz[2], x[0], x[1], 2, true, rng, true);
    }
  }
  omp_set_num_threads(omp_get_num_procs());
}

TEST_CASE("sgemm: empty sizes and K = 0", "[gemm]") {
  std::vector<float> a(4, 1.0f), b(4, 1.0f), c = {kNaN, kNaN, 5.0f, 6.0f};
  sgemm(false, false, 0, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2);
  sgemm(false, false, 2, 0, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2);
  CHECK(c[2] == 5.0f);
  sgemm(false, false, 1, 2, 0, 1.0f, a.data(), 1, b.data(), 2, 0.0f, c.data(), 2);  // C = 0·C, NaN-safe
  CHECK(c[0] == 0.0f);
  CHECK(c[1] == 0.0f);
  sgemm(false, false, 1, 2, 0, 1.0f, a.data(), 1, b.data(), 2, 2.0f, c.data() + 2, 2);
  CHECK(c[2] == 10.0f);
  CHECK(c[3] == 12.0f);
}

TEST_CASE("sgemm: bad arguments throw unigen::Error naming sgemm and the values", "[gemm]") {
  std::vector<float> a(64, 1.0f), b(64, 1.0f), c(64);
  CHECK_THROWS_WITH(sgemm(false, false, -1, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2),
                    Catch::Contains("sgemm") && Catch::Contains("M=-1"));
  CHECK_THROWS_WITH(sgemm(false, false, 4, 4, 4, 1.0f, a.data(), 3, b.data(), 4, 0.0f, c.data(), 4),
                    Catch::Contains("sgemm") && Catch::Contains("lda=3"));
  CHECK_THROWS_WITH(sgemm(true, false, 4, 4, 2, 1.0f, a.data(), 2, b.data(), 4, 0.0f, c.data(), 4),
                    Catch::Contains("lda=2"));
  CHECK_THROWS_WITH(sgemm(false, true, 4, 4, 4, 1.0f, a.data(), 4, b.data(), 3, 0.0f, c.data(), 4),
                    Catch::Contains("ldb=3"));
  CHECK_THROWS_WITH(sgemm(false, false, 4, 4, 4, 1.0f, a.data(), 4, b.data(), 4, 0.0f, c.data(), 3),
                    Catch::Contains("ldc=3"));
  CHECK_THROWS_AS(sgemm_batched(false, false, 2, 2, 2, 1.0f, a.data(), 2, 4, b.data(), 2, 4, 0.0f, c.data(), 2, 4, -1),
                  unigen::Error);
  CHECK_THROWS_AS(unigen::cpu::set_cpu_kernel("sse9"), unigen::Error);
}

TEST_CASE("sgemm_batched: strides, broadcast operands, batch shared over threads or not", "[gemm]") {
  const int64_t M = 19, N = 45, K = 70;
  for (const auto& kern : cpu_kernels()) {
    KernelGuard g(kern);
    std::mt19937 rng(5);
    for (int64_t batch : {1, 3, 4, 9})
      for (int bc = 0; bc < 3; ++bc)  // 0: all strided, 1: A broadcast, 2: B broadcast
        for (int t = 0; t < 4; ++t) {
          const bool ta = t & 1, tb = t & 2;
          const int64_t lda = (ta ? M : K) + 2, ldb = (tb ? K : N) + 1, ldc = N + 3;
          const int64_t sA = bc == 1 ? 0 : (ta ? K : M) * lda + 5, sB = bc == 2 ? 0 : (tb ? N : K) * ldb + 7,
                        sC = M * ldc + 2;
          std::vector<Mat> as, bs, cs;
          std::vector<float> A(size_t(sA * (batch - 1) + (ta ? K : M) * lda), kNaN),
              B(size_t(sB * (batch - 1) + (tb ? N : K) * ldb), kNaN), C(size_t(sC * batch), kNaN);
          for (int64_t i = 0; i < batch; ++i) {
            as.push_back(ta ? Mat(K, M, 2) : Mat(M, K, 2));
            bs.push_back(tb ? Mat(N, K, 1) : Mat(K, N, 1));
            cs.push_back(Mat(M, N, 3));
            fill(as.back(), rng, true);
            fill(bs.back(), rng, true);
            fill(cs.back(), rng, true);
            if (bc == 1) as.back() = as.front();
            if (bc == 2) bs.back() = bs.front();
            std::copy(as.back().v.begin(), as.back().v.end(), A.begin() + i * sA);
            std::copy(bs.back().v.begin(), bs.back().v.end(), B.begin() + i * sB);
            std::copy(cs.back().v.begin(), cs.back().v.end(), C.begin() + i * sC);
          }
          for (int threads : {1, 2}) {
            std::vector<float> c = C;
            omp_set_num_threads(threads);
            sgemm_batched(ta, tb, M, N, K, 2.0f, A.data(), lda, sA, B.data(), ldb, sB, -1.0f, c.data(), ldc, sC,
                          batch);
            int64_t bad = 0;
            for (int64_t i = 0; i < batch; ++i) {
              const auto want = reference(ta, tb, M, N, K, 2.0, as[size_t(i)], bs[size_t(i)], -1.0, cs[size_t(i)]);
              for (int64_t r = 0; r < M; ++r)
                for (int64_t q = 0; q < N; ++q) bad += c[size_t(i * sC + r * ldc + q)] != float(want[size_t(r * N + q)]);
            }
            INFO("kernel=" << kern << " batch=" << batch << " broadcast=" << bc << " t=" << t << " threads=" << threads);
            CHECK(bad == 0);
          }
        }
  }
  omp_set_num_threads(omp_get_num_procs());
}

TEST_CASE("sgemm: thread counts and calls from inside a parallel region", "[gemm]") {
  std::mt19937 rng(9);
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    check_gemm(false, false, 300, 200, 150, 1.0f, 0.0f, 0, true, rng);
    check_gemm(true, true, 5, 700, 64, 1.0f, 0.0f, 0, true, rng);
    check_gemm(true, false, 301, 40, 150, 1.0f, 0.0f, 0, true, rng);  // transposed A: the threads split M
  }
  omp_set_num_threads(omp_get_num_procs());
  // Every thread of an outer region runs its own product: each must run serially and be right.
  const int64_t M = 70, N = 90, K = 110;
  Mat a(M, K), b(K, N);
  fill(a, rng, true);
  fill(b, rng, true);
  const auto want = reference(false, false, M, N, K, 1.0, a, b, 0.0, Mat(M, N));
  std::vector<int64_t> bad(4, 0);
#pragma omp parallel for num_threads(2)
  for (int t = 0; t < 4; ++t) {
    std::vector<float> c(size_t(M * N), kNaN);
    sgemm(false, false, M, N, K, 1.0f, a.v.data(), a.ld, b.v.data(), b.ld, 0.0f, c.data(), N);
    for (int64_t i = 0; i < M * N; ++i) bad[size_t(t)] += c[size_t(i)] != float(want[size_t(i)]);
  }
  for (auto x : bad) CHECK(x == 0);
  // Inside a region of one thread (inactive) the GEMM must not open a nested team of its own: libgomp
  // would create and destroy that team's threads on every call.
  omp_set_num_threads(2);
  CHECK(unigen::cpu::gemm_detail::max_threads() == 2);
  int inside = -1;
#pragma omp parallel if (false)
  inside = unigen::cpu::gemm_detail::max_threads();
  CHECK(inside == 1);
  omp_set_num_threads(omp_get_num_procs());
}

// The same checks in a child process whose kernel comes from UNIGEN_CPU_KERNEL (read at first use).
TEST_CASE("kernel chosen by UNIGEN_CPU_KERNEL (child process)", "[.][gemm-env]") {
  const char* want = std::getenv("UNIGEN_CPU_KERNEL");
  REQUIRE(want != nullptr);
  CHECK(std::string(unigen::cpu::cpu_kernel_name()) == want);
  std::mt19937 rng(1);
  for (int t = 0; t < 4; ++t) check_gemm(t & 1, t & 2, 33, 257, 1000, 1.0f, 2.0f, 1, true, rng);
}

// In a child process with UNIGEN_CPU_KERNEL=bogus: the first tensor throws an error that names the
// variable, and so does every one after it (the value is not taken as a default).
TEST_CASE("a bad UNIGEN_CPU_KERNEL throws at the first tensor (child process)", "[.][gemm-env-bad]") {
  for (int i = 0; i < 2; ++i)
    CHECK_THROWS_WITH(unigen::Tensor<float>::zeros({2, 3}), Catch::Contains("UNIGEN_CPU_KERNEL=bogus"));
  CHECK_THROWS_WITH(unigen::cpu::cpu_kernel(), Catch::Contains("expected generic, avx2 or avx512"));
}

TEST_CASE("UNIGEN_CPU_KERNEL selects the kernel for a whole process", "[gemm]") {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  for (const auto& k : cpu_kernels()) {
    const std::string cmd = "UNIGEN_CPU_KERNEL=" + k + " '" + self + "' '[gemm-env]' > /dev/null";
    INFO(cmd);
    CHECK(std::system(cmd.c_str()) == 0);
  }
  CHECK(std::system(("UNIGEN_CPU_KERNEL=bogus '" + self + "' '[gemm-env]' > /dev/null 2>&1").c_str()) != 0);
  CHECK(std::system(("UNIGEN_CPU_KERNEL=bogus '" + self + "' '[gemm-env-bad]' > /dev/null 2>&1").c_str()) == 0);
}
