// Single-precision GEMM, row-major C = A·B, unigen against the peers compiled in (Eigen, OpenBLAS, oneDNN).
// Benchmarks are named gemm/<lib>/<M>/<N>/<K>/<threads> and report GFLOPS (2·M·N·K over the wall time
// of the fastest call); gemm_nt/... the same for C = A·Bᵀ (B stored [N,K]) with a few rows, a linear layer's
// product at inference, and gemm_nn/... for those rows against B stored [K,N]. peak/fma/<threads> measures the multiply-add peak they are bounded by.
// OpenBLAS reads OPENBLAS_CORETYPE when the library loads, before main: when it is unset (and the CPU has
// AVX-512) the program sets it to SkylakeX and re-executes itself, so OpenBLAS runs its best kernel here.
#if defined(__GNUC__) && !defined(__clang__)
// Eigen's AVX-512 packet loads trip a false -Wmaybe-uninitialized in GCC 12 (inside avx512fintrin.h).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <benchmark/benchmark.h>
#include <omp.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "unigen/backend/cpu/gemm.hpp"

#ifdef UNIGEN_BENCH_HAVE_EIGEN
#include <Eigen/Core>
#endif
#ifdef UNIGEN_BENCH_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef UNIGEN_BENCH_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

namespace {

enum class Lib { unigen, eigen, openblas, onednn };
const char* lib_name(Lib l) {
  switch (l) {
    case Lib::unigen: return "unigen";
    case Lib::eigen: return "eigen";
    case Lib::openblas: return "openblas";
    default: return "onednn";
  }
}

std::vector<Lib> libs() {
  std::vector<Lib> v = {Lib::unigen};
#ifdef UNIGEN_BENCH_HAVE_EIGEN
  v.push_back(Lib::eigen);
#endif
#ifdef UNIGEN_BENCH_HAVE_OPENBLAS
  v.push_back(Lib::openblas);
#endif
#ifdef UNIGEN_BENCH_HAVE_DNNL
  v.push_back(Lib::onednn);
#endif
  return v;
}

// Operands of one shape, filled once with uniform values in [-1, 1] and kept for every library.
struct Problem {
  int64_t M, N, K;
  std::vector<float> a, b, c;
};
Problem& problem(int64_t M, int64_t N, int64_t K) {
  static std::map<std::tuple<int64_t, int64_t, int64_t>, Problem> cache;
  auto [it, fresh] = cache.try_emplace({M, N, K});
  Problem& p = it->second;
  if (fresh) {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    p = {M, N, K, std::vector<float>(size_t(M * K)), std::vector<float>(size_t(K * N)), std::vector<float>(size_t(M * N))};
    for (auto& x : p.a) x = d(rng);
    for (auto& x : p.b) x = d(rng);
  }
  return p;
}

void set_threads(Lib lib, int threads) {
  omp_set_num_threads(threads);  // unigen and oneDNN (OpenMP runtime)
#ifdef UNIGEN_BENCH_HAVE_EIGEN
  if (lib == Lib::eigen) Eigen::setNbThreads(threads);
#endif
#ifdef UNIGEN_BENCH_HAVE_OPENBLAS
  if (lib == Lib::openblas) openblas_set_num_threads(threads);
#endif
  (void)lib;
}

// c[M,N] = a[M,K]·b[K,N], all row-major and contiguous; with tb, c = a·bᵀ for b stored [N,K] (a linear
// layer's x·Wᵀ).
void gemm(Lib lib, bool tb, int64_t M, int64_t N, int64_t K, const float* a, const float* b, float* c) {
  const int64_t ldb = tb ? K : N;
  switch (lib) {
    case Lib::unigen: unigen::cpu::sgemm(false, tb, M, N, K, 1.0f, a, K, b, ldb, 0.0f, c, N); break;
#ifdef UNIGEN_BENCH_HAVE_EIGEN
    case Lib::eigen: {
      using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
      Eigen::Map<const RowMat> ma(a, M, K), mb(b, tb ? N : K, tb ? K : N);
      Eigen::Map<RowMat> mc(c, M, N);
      if (tb)
        mc.noalias() = ma * mb.transpose();
      else
        mc.noalias() = ma * mb;
      break;
    }
#endif
#ifdef UNIGEN_BENCH_HAVE_OPENBLAS
    case Lib::openblas:
      cblas_sgemm(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, blasint(M), blasint(N), blasint(K), 1.0f,
                  a, blasint(K), b, blasint(ldb), 0.0f, c, blasint(N));
      break;
#endif
#ifdef UNIGEN_BENCH_HAVE_DNNL
    case Lib::onednn:
      if (dnnl_sgemm('N', tb ? 'T' : 'N', M, N, K, 1.0f, a, K, b, ldb, 0.0f, c, N) != dnnl_success) std::abort();
      break;
#endif
    default: std::abort();
  }
}

void bench(benchmark::State& st, Lib lib, bool tb, int64_t M, int64_t N, int64_t K, int threads) {
  Problem& p = problem(M, N, K);
  set_threads(lib, threads);
  gemm(lib, tb, M, N, K, p.a.data(), p.b.data(), p.c.data());  // warm-up: JIT (oneDNN), thread pools, caches
  std::vector<double> seconds;
  for (auto _ : st) {
    const auto t0 = std::chrono::steady_clock::now();
    gemm(lib, tb, M, N, K, p.a.data(), p.b.data(), p.c.data());
    benchmark::ClobberMemory();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  // From the fastest call's wall time: wall, not the main thread's CPU time, since the libraries run
  // threads of their own; the fastest, since the cores here are shared and calls that lose their core
  // to another process for a while would otherwise decide the ratios between libraries.
  const double best = *std::min_element(seconds.begin(), seconds.end());
  st.counters["GFLOPS"] = 2.0 * double(M) * double(N) * double(K) / best * 1e-9;
}

// The multiply-add peak of one core: independent chains of FMAs on registers only (16 of 512 bits, or
// 12 of 256 bits with AVX2: enough to cover the FMA latency), iters steps; returns lanes of their sum so
// that the loop is kept. Flops per step: 2 · chains · lanes. One function per instruction set, like the
// GEMM micro-kernels: each needs its own target attribute.
#if defined(__x86_64__)
constexpr int kChains512 = 16, kChains256 = 12;
__attribute__((target("avx512f"))) float fma_chains_avx512(int64_t iters) {
  __m512 acc[kChains512];
  const __m512 m = _mm512_set1_ps(0.999f), a = _mm512_set1_ps(0.001f);
  for (int i = 0; i < kChains512; ++i) acc[i] = _mm512_set1_ps(float(i));
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 16
    for (int i = 0; i < kChains512; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
  for (int i = 1; i < kChains512; ++i) acc[0] = _mm512_add_ps(acc[0], acc[i]);
  float v[16];
  _mm512_storeu_ps(v, acc[0]);
  return v[0] + v[15];
}
__attribute__((target("avx2,fma"))) float fma_chains_avx2(int64_t iters) {
  __m256 acc[kChains256];
  const __m256 m = _mm256_set1_ps(0.999f), a = _mm256_set1_ps(0.001f);
  for (int i = 0; i < kChains256; ++i) acc[i] = _mm256_set1_ps(float(i));
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < kChains256; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
  for (int i = 1; i < kChains256; ++i) acc[0] = _mm256_add_ps(acc[0], acc[i]);
  float v[8];
  _mm256_storeu_ps(v, acc[0]);
  return v[0] + v[7];
}

// peak/fma/<threads>: the chains above (at the width of unigen's kernel) on every thread, GFLOPS from the
// fastest call, like the GEMMs.
void bench_peak(benchmark::State& st, bool avx512, int threads) {
  const int64_t iters = int64_t(1) << 20;
  const double flops = double(threads) * double(iters) * 2.0 * (avx512 ? kChains512 * 16 : kChains256 * 8);
  std::vector<double> seconds;
  float sink = 0;
  for (auto _ : st) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += avx512 ? fma_chains_avx512(iters) : fma_chains_avx2(iters);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  benchmark::DoNotOptimize(sink);
  st.counters["GFLOPS"] = flops / *std::min_element(seconds.begin(), seconds.end()) * 1e-9;
}
#endif

// Every library computes odd-sized products, B as stored and transposed, one of them with few rows; all
// must agree with unigen (guards the peers' calls).
void cross_check() {
  for (const auto& [M, N, K] : {std::tuple<int64_t, int64_t, int64_t>{67, 45, 33}, {3, 45, 33}})
    for (bool tb : {false, true}) {
      Problem& p = problem(M, N, K);
      std::vector<float> want(size_t(M * N));
      gemm(Lib::unigen, tb, M, N, K, p.a.data(), p.b.data(), want.data());
      for (Lib lib : libs()) {
        std::vector<float> got(size_t(M * N));
        gemm(lib, tb, M, N, K, p.a.data(), p.b.data(), got.data());
        for (size_t i = 0; i < got.size(); ++i)
          if (!(std::abs(got[i] - want[i]) < 1e-4f)) {
            std::fprintf(stderr, "bench_gemm: %s disagrees with unigen at %zu (M=%ld, transB=%d): %g vs %g\n",
                         lib_name(lib), i, long(M), int(tb), double(got[i]), double(want[i]));
            std::exit(1);
          }
      }
    }
}

}  // namespace

int main(int argc, char** argv) {
#ifdef UNIGEN_BENCH_HAVE_OPENBLAS
  if (!std::getenv("OPENBLAS_CORETYPE") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
    setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: then go on with OpenBLAS's own choice
  }
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  benchmark::AddCustomContext("openblas_config", openblas_get_config());
#endif
  benchmark::AddCustomContext("unigen_kernel", unigen::cpu::cpu_kernel_name());
  cross_check();

  // Square sizes, then the Transformer shapes of the tiny and small configs (M = 32 images × 81 tokens).
  std::vector<std::tuple<int64_t, int64_t, int64_t>> shapes;  // M, N, K
  for (int64_t s : {256, 512, 1024, 2048}) shapes.emplace_back(s, s, s);
  const int64_t kn[][2] = {{256, 768}, {256, 256}, {256, 1024}, {1024, 256},
                           {512, 1536}, {512, 512}, {512, 2048}, {2048, 512}};
  for (const auto& x : kn) shapes.emplace_back(2592, x[1], x[0]);

#if defined(__x86_64__)
  const auto isa = unigen::cpu::best_isa();
  if (isa != unigen::cpu::Isa::generic)
    for (int threads : {1, 2})
      benchmark::RegisterBenchmark(("peak/fma/" + std::to_string(threads)).c_str(), bench_peak,
                                   isa == unigen::cpu::Isa::avx512, threads)
          ->Unit(benchmark::kMillisecond);
#endif
  // A linear layer on a few rows (gemm_nt: C = A·Bᵀ, B stored [N,K]; gemm_nn: C = A·B, B stored [K,N]):
  // M = 1, 4, 16 against the weights of the tiny config's q/k/v projection (N×K 768×256), the base
  // config's first FFN layer (3072×768) and 1024².
  std::vector<std::tuple<int64_t, int64_t, int64_t>> small;
  for (int64_t m : {1, 4, 16})
    for (const auto& [n, k] : {std::pair<int64_t, int64_t>{768, 256}, {3072, 768}, {1024, 1024}}) small.emplace_back(m, n, k);

  // The peers of one shape and thread count run back to back, so a change in machine load touches all alike.
  const std::tuple<std::string, bool, const decltype(shapes)*> families[] = {
      {"gemm/", false, &shapes}, {"gemm_nt/", true, &small}, {"gemm_nn/", false, &small}};
  for (const auto& [family, tb, list] : families)
    for (const auto& [M, N, K] : *list)
      for (int threads : {1, 2})
        for (Lib lib : libs()) {
          const std::string name = family + lib_name(lib) + "/" + std::to_string(M) + "/" + std::to_string(N) + "/" +
                                   std::to_string(K) + "/" + std::to_string(threads);
          benchmark::RegisterBenchmark(name.c_str(), bench, lib, tb, M, N, K, threads)
              ->Unit(list == &small ? benchmark::kMicrosecond : benchmark::kMillisecond);
        }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
