// The timing side of scripts/ab-gemm.sh: the sgemm of two versions of the headers (side.cpp, compiled
// twice) in one process, so that Google Benchmark's --benchmark_enable_random_interleaving alternates
// them under the same host conditions. Each benchmark is ab/<nn|nt>/<old|new>/<M>/<N>/<K>/<threads>
// with a GFLOPS counter; the shapes come from UNIGEN_AB_SHAPES, "tb:M:N:K:threads,..." (tb 1: B
// transposed).
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" void ab_gemm_old(bool, int64_t, int64_t, int64_t, const float*, const float*, float*);
extern "C" void ab_gemm_new(bool, int64_t, int64_t, int64_t, const float*, const float*, float*);

namespace {

using Gemm = void (*)(bool, int64_t, int64_t, int64_t, const float*, const float*, float*);

void run(benchmark::State& st, Gemm gemm, bool tb, int64_t M, int64_t N, int64_t K, int threads) {
  std::vector<float> a(M * K), b(N * K), c(M * N);
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto& x : a) x = u(gen);
  for (auto& x : b) x = u(gen);
  omp_set_num_threads(threads);
  for (auto _ : st) {
    gemm(tb, M, N, K, a.data(), b.data(), c.data());
    benchmark::ClobberMemory();
  }
  st.counters["GFLOPS"] =
      benchmark::Counter(2e-9 * double(M) * double(N) * double(K), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("UNIGEN_AB_SHAPES");
  if (!env || !*env) {
    std::fprintf(stderr, "ab_gemm: set UNIGEN_AB_SHAPES to \"tb:M:N:K:threads,...\"\n");
    return 2;
  }
  std::stringstream list(env);
  std::string item;
  while (std::getline(list, item, ',')) {
    int tb = 0, threads = 0;
    long long M = 0, N = 0, K = 0;
    char rest = 0;
    if (std::sscanf(item.c_str(), "%d:%lld:%lld:%lld:%d%c", &tb, &M, &N, &K, &threads, &rest) != 5 || tb < 0 ||
        tb > 1 || M < 1 || N < 1 || K < 1 || threads < 1) {
      std::fprintf(stderr, "ab_gemm: bad shape \"%s\" in UNIGEN_AB_SHAPES (want tb:M:N:K:threads, tb 0 or 1)\n",
                   item.c_str());
      return 2;
    }
    for (const auto& [side, gemm] : {std::pair<const char*, Gemm>{"old", ab_gemm_old}, {"new", ab_gemm_new}}) {
      const std::string name = std::string("ab/") + (tb ? "nt/" : "nn/") + side + "/" + std::to_string(M) + "/" +
                               std::to_string(N) + "/" + std::to_string(K) + "/" + std::to_string(threads);
      benchmark::RegisterBenchmark(name.c_str(), run, gemm, tb == 1, int64_t(M), int64_t(N), int64_t(K), threads)
          ->UseRealTime();
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
