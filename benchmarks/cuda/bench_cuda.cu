// bench_cuda: the hand-written CUDA kernels timed with CUDA events after warm-up, L2 flushed before
// every timed run. GEMM in TFLOP/s and % of cuBLAS; softmax and layer_norm in GB/s and % of the
// device's peak bandwidth; attention forward/backward in TFLOP/s.
// Usage: bench_cuda [--json FILE] [--quick]
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "kernels/attention.cuh"
#include "kernels/gemm.cuh"
#include "kernels/layernorm.cuh"
#include "kernels/softmax.cuh"

namespace {

using unigen::cuda::DeviceBuffer;
namespace K = unigen::cuda::kernels;

struct Row {
  std::string kernel, shape;
  double ms = 0, value = 0;  // value in `unit`
  std::string unit;
  double pct = -1;  // % of cuBLAS or of peak bandwidth; < 0: none
  std::string pct_of, error;
};

struct Bench {
  bool quick = false;
  unigen::cuda::DeviceInfo info;
  DeviceBuffer<char> flush;
  cudaEvent_t start{}, stop{};
  std::vector<Row> rows;

  Bench() {
    info = unigen::cuda::device_info(0);
    flush = DeviceBuffer<char>(std::max<size_t>(2 * info.l2_bytes, size_t(64) << 20));
    unigen::cuda::check_cuda(cudaEventCreate(&start), "bench");
    unigen::cuda::check_cuda(cudaEventCreate(&stop), "bench");
  }

  // Median time in ms of fn over `iters` runs after `warmup` runs; L2 is flushed before each timed run.
  double time_ms(const std::function<void()>& fn, int warmup, int iters) {
    for (int i = 0; i < warmup; ++i) fn();
    unigen::cuda::synchronize("bench warm-up");
    std::vector<float> t;
    for (int i = 0; i < iters; ++i) {
      unigen::cuda::check_cuda(cudaMemsetAsync(flush.data(), i & 0xff, flush.size(), nullptr), "bench L2 flush");
      unigen::cuda::check_cuda(cudaEventRecord(start, nullptr), "bench");
      fn();
      unigen::cuda::check_cuda(cudaEventRecord(stop, nullptr), "bench");
      unigen::cuda::check_cuda(cudaEventSynchronize(stop), "bench");
      float ms = 0;
      unigen::cuda::check_cuda(cudaEventElapsedTime(&ms, start, stop), "bench");
      t.push_back(ms);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  }

  // Runs one measurement; an exception becomes a row with its message instead of ending the run.
  void add(const std::string& kernel, const std::string& shape, const std::function<Row()>& f) {
    Row r;
    try {
      r = f();
    } catch (const std::exception& e) {
      r.error = e.what();
      (void)cudaGetLastError();
    }
    r.kernel = kernel, r.shape = shape;
    rows.push_back(r);
    print(r);
  }

  static void print_header() {
    std::printf("%-28s %-34s %10s %12s %10s\n", "kernel", "shape", "time ms", "throughput", "% ref");
  }
  static void print(const Row& r) {
    if (!r.error.empty()) {
      std::printf("%-28s %-34s FAILED: %s\n", r.kernel.c_str(), r.shape.c_str(), r.error.c_str());
    } else {
      char pct[48] = "";
      if (r.pct >= 0) std::snprintf(pct, sizeof pct, "%6.1f%% %s", r.pct, r.pct_of.c_str());
      std::printf("%-28s %-34s %10.3f %7.1f %-6s %s\n", r.kernel.c_str(), r.shape.c_str(), r.ms, r.value,
                  r.unit.c_str(), pct);
    }
    std::fflush(stdout);
  }
};

template <class T>
std::vector<T> filled(size_t n, uint32_t seed) {
  std::vector<T> v(n);
  uint32_t s = seed * 2654435761u + 1;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    const float f = float(int((s >> 9) % 2001) - 1000) / 1000.f;
    if constexpr (std::is_same_v<T, float>) x = f;
    else x = T(f);
  }
  return v;
}

// GEMM C[M, N] = A[M, K]·op(B) (B stored [N, K] when tb), hand-written and cuBLAS.
template <class T>
void bench_gemm(Bench& b, const char* type, int64_t M, int64_t N, int64_t K, bool tb, const char* what) {
  const int iters = b.quick ? 3 : (M * N * K >= (int64_t(1) << 36) ? 5 : 10);
  DeviceBuffer<T> A(filled<T>(size_t(M * K), 1)), B(filled<T>(size_t(K * N), 2)), C(size_t(M * N));
  const double flop = 2.0 * double(M) * double(N) * double(K);
  auto run = [&](K::GemmImpl impl) {
    return b.time_ms([&] {
      K::gemm<T>(false, tb, M, N, K, 1.f, A.data(), K, 0, B.data(), tb ? K : N, 0, 0.f, C.data(), N, 0, 1, nullptr,
                 false, nullptr, impl);
    }, 2, iters);
  };
  char shape[96];
  std::snprintf(shape, sizeof shape, "%s %lldx%lldx%lld%s", what, (long long)M, (long long)N, (long long)K,
                tb ? " (NT)" : "");
  double cublas_ms = -1;
  b.add(std::string("gemm ") + type + " cublas", shape, [&] {
    Row r;
    r.ms = cublas_ms = run(K::GemmImpl::cublas);
    r.value = flop / (r.ms * 1e-3) / 1e12, r.unit = "TFLOP/s";
    return r;
  });
  // The hand-written kernel gemm() picks (named in the row), and mma.sync on its own where that is wgmma.
  const K::GemmKernel kern = K::gemm_kernel_for<T>(K::GemmImpl::hand, true, true);
  auto hand_row = [&](const char* label, K::GemmImpl impl, K::GemmKernel k) {
    b.add(std::string("gemm ") + type + " " + label, shape, [&] {
      Row r;
      r.ms = run(impl);
      r.value = flop / (r.ms * 1e-3) / 1e12, r.unit = "TFLOP/s";
      if (cublas_ms > 0) r.pct = 100.0 * cublas_ms / r.ms, r.pct_of = std::string("of cuBLAS (") + K::gemm_kernel_name(k) + ")";
      return r;
    });
  };
  hand_row("unigen", K::GemmImpl::hand, kern);
  if (kern == K::GemmKernel::wgmma) hand_row("unigen mma", K::GemmImpl::mma, K::GemmKernel::mma);
}

template <class T>
void bench_rows(Bench& b, const char* type, int64_t rows, int64_t n) {
  DeviceBuffer<T> x(filled<T>(size_t(rows * n), 3)), y(size_t(rows * n)), w(filled<T>(size_t(n), 4)),
      bias(filled<T>(size_t(n), 5));
  DeviceBuffer<float> mean{size_t(rows)}, rstd{size_t(rows)};
  const double bytes = 2.0 * double(rows) * double(n) * sizeof(T);  // one read, one write
  const int iters = b.quick ? 5 : 20;
  char shape[64];
  std::snprintf(shape, sizeof shape, "%lld x %lld", (long long)rows, (long long)n);
  auto row = [&](double ms) {
    Row r;
    r.ms = ms, r.value = bytes / (ms * 1e-3) / 1e9, r.unit = "GB/s";
    r.pct = 100.0 * r.value / b.info.peak_bandwidth_gbs, r.pct_of = "of peak BW";
    return r;
  };
  b.add(std::string("softmax ") + type, shape, [&] {
    return row(b.time_ms([&] { K::softmax_forward<T>(x.data(), n, y.data(), n, rows, n, false); }, 3, iters));
  });
  b.add(std::string("layer_norm ") + type, shape, [&] {
    return row(b.time_ms([&] {
      K::layer_norm_forward<T>(x.data(), y.data(), w.data(), bias.data(), mean.data(), rstd.data(), n, rows, n, 1e-5f);
    }, 3, iters));
  });
}

template <class T>
void bench_attention(Bench& b, const char* type, int64_t B, int64_t H, int64_t Tn, int64_t d) {
  const size_t n = size_t(B * H * Tn * d);
  DeviceBuffer<T> q(filled<T>(n, 6)), k(filled<T>(n, 7)), v(filled<T>(n, 8)), o(n), g(filled<T>(n, 9)), dq(n), dk(n),
      dv(n);
  DeviceBuffer<float> lse{size_t(B * H * Tn)};
  K::AttnParams<T> p{};
  p.q = q.data(), p.k = k.data(), p.v = v.data(), p.o = o.data(), p.dout = g.data(), p.lse = lse.data();
  p.BH = B * H, p.H = H, p.Tq = int(Tn), p.Tk = int(Tn), p.d = int(d), p.dv = int(d);
  p.qs = p.ks = p.vs = p.os = K::AttnStrides{H * Tn * d, Tn * d, d};
  p.scale = float(1.0 / std::sqrt(double(d)));
  const double flop = 4.0 * double(B * H) * double(Tn) * double(Tn) * double(d);
  const int iters = b.quick ? 3 : 5;
  char shape[96];
  std::snprintf(shape, sizeof shape, "B%lld H%lld T%lld d%lld", (long long)B, (long long)H, (long long)Tn, (long long)d);
  b.add(std::string("attention fwd ") + type, shape, [&] {
    Row r;
    r.ms = b.time_ms([&] { K::attention_forward<T>(p); }, 2, iters);
    r.value = flop / (r.ms * 1e-3) / 1e12, r.unit = "TFLOP/s";
    return r;
  });
  b.add(std::string("attention bwd ") + type, shape, [&] {
    K::attention_forward<T>(p);
    Row r;
    r.ms = b.time_ms([&] { K::attention_backward<T>(p, dq.data(), dk.data(), dv.data()); }, 1, iters);
    r.value = 2.5 * flop / (r.ms * 1e-3) / 1e12, r.unit = "TFLOP/s";
    return r;
  });
}

std::string json_escape(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c == '"' || c == '\\') r += '\\';
    if (c == '\n') {
      r += "\\n";
      continue;
    }
    r += c;
  }
  return r;
}

void write_json(const Bench& b, const std::string& path) {
  std::ofstream f(path);
  unigen::check(bool(f), "bench_cuda: cannot write ", path);
  f << "{\n  \"device\": \"" << json_escape(b.info.name) << "\",\n  \"peak_bandwidth_gbs\": " << b.info.peak_bandwidth_gbs
    << ",\n  \"results\": [\n";
  for (size_t i = 0; i < b.rows.size(); ++i) {
    const Row& r = b.rows[i];
    f << "    {\"kernel\": \"" << json_escape(r.kernel) << "\", \"shape\": \"" << json_escape(r.shape)
      << "\", \"ms\": " << r.ms << ", \"value\": " << r.value << ", \"unit\": \"" << r.unit << "\", \"pct\": " << r.pct
      << ", \"pct_of\": \"" << r.pct_of << "\", \"error\": \"" << json_escape(r.error) << "\"}"
      << (i + 1 < b.rows.size() ? "," : "") << "\n";
  }
  f << "  ]\n}\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string json;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc) json = argv[++i];
    else if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else {
      std::fprintf(stderr, "usage: %s [--json FILE] [--quick]\n", argv[0]);
      return 2;
    }
  }
  if (unigen::cuda::device_count() == 0) {
    std::printf("SKIPPED: no CUDA device\n");
    return 77;
  }
  try {
    Bench b;
    b.quick = quick;
    std::printf("device: %s (sm_%d%d, %d SMs, L2 %zu MiB, peak bandwidth %.0f GB/s)\n", b.info.name.c_str(),
                b.info.major, b.info.minor, b.info.sm_count, b.info.l2_bytes >> 20, b.info.peak_bandwidth_gbs);
    Bench::print_header();
    std::vector<int64_t> squares = quick ? std::vector<int64_t>{1024, 4096} : std::vector<int64_t>{1024, 2048, 4096, 8192};
    // Transformer shapes of the base config: 32 sequences of 81 tokens, hidden 768, FFN 3072, vocab 30522.
    const int64_t tok = 32 * 81;
    const int64_t tshapes[][3] = {{tok, 2304, 768}, {tok, 768, 768}, {tok, 3072, 768}, {tok, 768, 3072}, {tok, 30522, 768}};
    const char* tnames[] = {"qkv", "attn-out", "ffn-up", "ffn-down", "text-head"};
    for (int64_t s : squares) bench_gemm<float>(b, "fp32", s, s, s, false, "square");
    for (int i = 0; i < 5; ++i) bench_gemm<float>(b, "fp32", tshapes[i][0], tshapes[i][1], tshapes[i][2], true, tnames[i]);
    for (int64_t s : squares) bench_gemm<K::bf16_t>(b, "bf16", s, s, s, false, "square");
    for (int i = 0; i < 5; ++i)
      bench_gemm<K::bf16_t>(b, "bf16", tshapes[i][0], tshapes[i][1], tshapes[i][2], true, tnames[i]);
    for (int64_t n : {1024, 4096}) {
      bench_rows<float>(b, "fp32", 32768, n);
      bench_rows<K::bf16_t>(b, "bf16", 32768, n);
    }
    for (int64_t Tn : quick ? std::vector<int64_t>{81, 256} : std::vector<int64_t>{81, 256, 1024})
      for (int64_t d : {64, 128}) {
        bench_attention<float>(b, "fp32", 32, 12, Tn, d);
        bench_attention<K::bf16_t>(b, "bf16", 32, 12, Tn, d);
      }
    if (!json.empty()) write_json(b, json);
    size_t failed = 0;
    for (const Row& r : b.rows) failed += !r.error.empty();
    std::printf("%zu measurements, %zu failed\n", b.rows.size(), failed);
    return failed ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda: %s\n", e.what());
    return 1;
  }
}
