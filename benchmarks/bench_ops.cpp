// Fused CPU row ops and attention against the same math composed of unigen's basic ops, forward and
// forward+backward, and softmax and layer_norm against oneDNN's primitives too (when built with oneDNN,
// which has no cross-entropy or attention primitive). Names: <op>/<fused|composed|onednn>/<rows>/<cols>/
// <fwd|fwdbwd> and attention/<fused|composed|basic>/<B>/<heads>/<T>/<dh>/<none|causal|prefix>/<fwd|fwdbwd>.
// membw/copy measures the machine's memory bandwidth (a parallel float copy, read + write bytes). The
// memory-bound ops run that copy between their own iterations and report x_of_bound = their median time /
// (bytes they must move / the copies' median bandwidth): the host's load moves both alike (see timed).
// The 128 MiB shapes would time page faults on every fresh block if the freed ones went back to the
// system; the library's host cache keeps them (core/host_cache.hpp), and this binary raises its limit
// to 8 GiB (unless UNIGEN_HOST_CACHE_MB is set) so that the composed ops' intermediates fit too.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include "unigen/unigen.hpp"

#ifdef UNIGEN_BENCH_HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace {

using namespace unigen;
using Clock = std::chrono::steady_clock;

// The copy that measures memory bandwidth: 128 MiB read and 128 MiB written by all OpenMP threads.
struct Copy {
  static constexpr int64_t n = int64_t(1) << 25;
  static constexpr double bytes = 2.0 * 4.0 * double(n);
  std::vector<float> x = std::vector<float>(size_t(n), 1.0f), y = std::vector<float>(size_t(n), 0.0f);
  // One copy; returns seconds.
  double once() {
    auto t0 = Clock::now();
    float* dst = y.data();
    const float* src = x.data();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
    return std::chrono::duration<double>(Clock::now() - t0).count();
  }
  static Copy& get() {
    static Copy c;
    return c;
  }
};

// The best bandwidth of 10 copies in bytes/s, for the line printed at the start.
double best_bandwidth() {
  double best = 1e30;
  for (int r = 0; r < 10; ++r) best = std::min(best, Copy::get().once());
  return Copy::bytes / best;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

void bm_membw(benchmark::State& st) {
  double best = 1e30;
  for (auto _ : st) {
    const double s = Copy::get().once();
    st.SetIterationTime(s);
    best = std::min(best, s);
  }
  st.counters["GB/s"] = benchmark::Counter(Copy::bytes * double(st.iterations()), benchmark::Counter::kIsRate);
  st.counters["best_GB/s"] = Copy::bytes / best / 1e9;
}

// Runs f once untimed, then times each iteration (manual time: f alone). For `bytes` > 0 (the bytes f
// must move) the copy runs between the iterations, whenever f has run for as long as one copy since the
// last, and once at the end, so both share the host's load of the moment; sets GB/s (mean),
// bound_GB/s (the copies' median) and x_of_bound = median time of f / (bytes / bound_GB/s).
template <class F>
void timed(benchmark::State& st, double bytes, F f) {
  f();  // untimed warm-up: the first call's blocks are fresh pages
  std::vector<double> times, copies;
  double since_copy = 0, copy_time = 0;
  for (auto _ : st) {
    if (bytes > 0 && since_copy >= copy_time) {
      copy_time = Copy::get().once();
      copies.push_back(copy_time);
      since_copy = 0;
    }
    auto t0 = Clock::now();
    f();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    st.SetIterationTime(s);
    times.push_back(s);
    since_copy += s;
  }
  if (bytes <= 0) return;
  copies.push_back(Copy::get().once());
  double total = 0;
  for (double s : times) total += s;
  const double bw = Copy::bytes / median(copies);
  st.counters["GB/s"] = bytes * double(times.size()) / total / 1e9;
  st.counters["bound_GB/s"] = bw / 1e9;
  st.counters["x_of_bound"] = median(times) / (bytes / bw);
}

enum class Op { softmax, layer_norm, cross_entropy };

// The bytes a row op on float [rows, cols] must move: read x and write y forward (cross-entropy only
// reads x); backward adds read y (or x) and g, write gx.
double row_op_bytes(Op op, int64_t rows, int64_t cols, bool bwd) {
  const double n = 4.0 * double(rows * cols);
  return op == Op::cross_entropy ? (bwd ? 3 : 1) * n : (bwd ? 5 : 2) * n;
}

// x: [rows, cols] -> one op fused or composed; fwdbwd also backpropagates a random gradient into x.
void bm_row_op(benchmark::State& st, Op op, bool fused, int64_t rows, int64_t cols, bool bwd) {
  Generator gen(1);
  auto x = Tensor<float>::randn({rows, cols}, gen);
  if (bwd) x.set_requires_grad();
  auto w = Tensor<float>::randn({cols}, gen), b = Tensor<float>::randn({cols}, gen);
  auto target = Tensor<int64_t>::randint(0, cols, {rows}, gen);
  auto gout = Tensor<float>::randn({rows, cols}, gen);
  auto onehot = one_hot<float>(target, cols);
  auto run = [&]() -> Tensor<float> {
    switch (op) {
      case Op::softmax:
        if (fused) return softmax(x, -1);
        else {
          auto e = exp(x - max(x, {-1}, true));
          return e / sum(e, {-1}, true);
        }
      case Op::layer_norm:
        if (fused) return layer_norm(x, w, b);
        else {
          auto c = x - mean(x, {-1}, true);
          return c / sqrt(mean(c * c, {-1}, true) + 1e-5) * w + b;
        }
      default:
        if (fused) return cross_entropy(x, target);
        return -mean(sum(onehot * log_softmax(x, -1), {-1}));
    }
  };
  timed(st, row_op_bytes(op, rows, cols, bwd), [&] {
    auto y = run();
    if (bwd) {
      if (op == Op::cross_entropy) y.backward();
      else y.backward(gout);
      x.zero_grad();
    }
    benchmark::DoNotOptimize(y.data());
  });
}

#ifdef UNIGEN_BENCH_HAVE_DNNL
// The peer: oneDNN's softmax or layer normalization primitive (scale and shift, ε = 1e-5) on the same
// x [rows, cols], forward (forward_training) or forward then backward (layer normalization: the gradients
// of x, scale and shift, as unigen computes). Buffers are allocated once, outside the timed calls. Before
// timing, its output and the gradient of x are compared with unigen's fused op; a difference over 1e-4
// skips the benchmark with an error.
void bm_row_op_onednn(benchmark::State& st, Op op, int64_t rows, int64_t cols, bool bwd) {
  using namespace dnnl;
  using tag = memory::format_tag;
  const auto f32 = memory::data_type::f32;
  Generator gen(1);
  auto x = Tensor<float>::randn({rows, cols}, gen);
  auto w = Tensor<float>::randn({cols}, gen), b = Tensor<float>::randn({cols}, gen);
  auto gout = Tensor<float>::randn({rows, cols}, gen);
  auto y = Tensor<float>::empty({rows, cols}), gx = Tensor<float>::empty({rows, cols});
  auto stats = Tensor<float>::empty({2, rows}), gwb = Tensor<float>::empty({2, cols});
  engine eng(engine::kind::cpu, 0);
  stream strm(eng);
  const memory::desc md({rows, cols}, f32, tag::ab), vec({cols}, f32, tag::a), stat({rows}, f32, tag::a);
  auto mem = [&](const memory::desc& d, const float* p) { return memory(d, eng, const_cast<float*>(p)); };
  memory src = mem(md, x.data()), dst = mem(md, y.data()), ddst = mem(md, gout.data()), dsrc = mem(md, gx.data());
  primitive fwd, back;
  std::unordered_map<int, memory> fargs, bargs;
  if (op == Op::softmax) {
    softmax_forward::primitive_desc fpd({prop_kind::forward_training, md, 1}, eng);
    fwd = softmax_forward(fpd);
    back = softmax_backward(softmax_backward::primitive_desc({md, md, 1}, eng, fpd));
    fargs = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
    bargs = {{DNNL_ARG_DST, dst}, {DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_DIFF_SRC, dsrc}};
  } else {
    const auto flags = normalization_flags::use_scale | normalization_flags::use_shift;
    layer_normalization_forward::primitive_desc fpd({prop_kind::forward_training, md, stat, 1e-5f, flags}, eng);
    fwd = layer_normalization_forward(fpd);
    back = layer_normalization_backward(
        layer_normalization_backward::primitive_desc({prop_kind::backward, md, md, stat, 1e-5f, flags}, eng, fpd));
    memory mean = mem(stat, stats.data()), var = mem(stat, stats.data() + rows), scale = mem(vec, w.data()),
           shift = mem(vec, b.data());
    fargs = {{DNNL_ARG_SRC, src},      {DNNL_ARG_DST, dst},     {DNNL_ARG_MEAN, mean},
             {DNNL_ARG_VARIANCE, var}, {DNNL_ARG_SCALE, scale}, {DNNL_ARG_SHIFT, shift}};
    bargs = fargs;
    bargs.erase(DNNL_ARG_DST);
    bargs.insert({{DNNL_ARG_DIFF_DST, ddst},
                  {DNNL_ARG_DIFF_SRC, dsrc},
                  {DNNL_ARG_DIFF_SCALE, mem(vec, gwb.data())},
                  {DNNL_ARG_DIFF_SHIFT, mem(vec, gwb.data() + cols)}});
  }
  auto xr = x.clone();
  xr.set_requires_grad();
  const Tensor<float> want = op == Op::softmax ? softmax(xr, -1) : layer_norm(xr, w, b);
  want.backward(gout);
  fwd.execute(strm, fargs);
  back.execute(strm, bargs);
  strm.wait();
  const float diff = std::max(max(abs(y - want.detach())).item(), max(abs(gx - xr.grad())).item());
  if (!(diff <= 1e-4f)) {
    st.SkipWithError(("oneDNN's result differs from unigen's by " + std::to_string(diff)).c_str());
    return;
  }
  timed(st, row_op_bytes(op, rows, cols, bwd), [&] {
    fwd.execute(strm, fargs);
    if (bwd) back.execute(strm, bargs);
    strm.wait();
  });
}
#endif

enum class Mask { none, causal, prefix };
const char* mask_name(Mask m) { return m == Mask::none ? "none" : m == Mask::causal ? "causal" : "prefix"; }

// q, k, v: [B, H, T, dh] with the given mask; prefix: every query sees the first T − 17 cells (image),
// and the last 17 (text) are causal among themselves.
// fused: scaled_dot_product_attention; composed: detail::attention_composed (basic ops around the fused
// softmax); basic: the same with softmax spelled exp(s − max) / Σ, basic ops only.
enum class Attn { fused, composed, basic };
const char* attn_name(Attn a) { return a == Attn::fused ? "fused" : a == Attn::composed ? "composed" : "basic"; }

void bm_attention(benchmark::State& st, Attn impl, int64_t B, int64_t H, int64_t T, int64_t dh, Mask mk, bool bwd) {
  Generator gen(2);
  auto q = Tensor<float>::randn({B, H, T, dh}, gen), k = Tensor<float>::randn({B, H, T, dh}, gen),
       v = Tensor<float>::randn({B, H, T, dh}, gen), gout = Tensor<float>::randn({B, H, T, dh}, gen);
  if (bwd) q.set_requires_grad(), k.set_requires_grad(), v.set_requires_grad();
  Tensor<bool> mask;
  if (mk == Mask::prefix) {
    const int64_t img = T - 17;
    mask = Tensor<bool>::empty({T, T});
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < T; ++j) mask.data()[i * T + j] = j < img || j <= i;
  }
  const bool causal = mk == Mask::causal;
  timed(st, 0, [&] {
    Tensor<float> o;
    if (impl == Attn::fused) o = scaled_dot_product_attention(q, k, v, mask, causal);
    else if (impl == Attn::composed) o = detail::attention_composed(q, k, v, mask, causal);
    else {
      auto s = detail::attention_scores_composed(q, k, v, mask, causal, 0.0);
      auto e = exp(s - max(s, {-1}, true));
      o = matmul(e / sum(e, {-1}, true), v);
    }
    if (bwd) {
      o.backward(gout);
      q.zero_grad(), k.zero_grad(), v.zero_grad();
    }
    benchmark::DoNotOptimize(o.data());
  });
  // 2·T·T·dh for q·kᵀ and 2·T·T·dh for p·v forward; twice that again backward
  const double flops = double(B * H) * 4.0 * double(T * T * dh) * (bwd ? 3.0 : 1.0);
  st.counters["GFLOPS"] = benchmark::Counter(flops / 1e9 * double(st.iterations()), benchmark::Counter::kIsRate);
}

}  // namespace

int main(int argc, char** argv) {
  setenv("UNIGEN_HOST_CACHE_MB", "8192", 0);  // read at the first allocation
  benchmark::RegisterBenchmark("membw/copy", bm_membw)->Unit(benchmark::kMillisecond)->UseManualTime();
  struct RowOp {
    Op op;
    const char* name;
  };
  for (RowOp r : {RowOp{Op::softmax, "softmax"}, RowOp{Op::layer_norm, "layer_norm"},
                  RowOp{Op::cross_entropy, "cross_entropy"}})
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{32768, 1024}, {32 * 81, 256}, {32 * 81, 1024}})
      for (bool bwd : {false, true})
        for (const char* impl : {"fused", "composed", "onednn"}) {
          const bool fused = impl[0] == 'f', peer = impl[0] == 'o';
          std::string name = std::string(r.name) + "/" + impl + "/" + std::to_string(rows) + "/" +
                             std::to_string(cols) + "/" + (bwd ? "fwdbwd" : "fwd");
          if (!peer)
            benchmark::RegisterBenchmark(name.c_str(), bm_row_op, r.op, fused, rows, cols, bwd)
                ->Unit(benchmark::kMillisecond)
                ->UseManualTime();
#ifdef UNIGEN_BENCH_HAVE_DNNL
          else if (r.op != Op::cross_entropy)  // oneDNN has no cross-entropy
            benchmark::RegisterBenchmark(name.c_str(), bm_row_op_onednn, r.op, rows, cols, bwd)
                ->Unit(benchmark::kMillisecond)
                ->UseManualTime();
#endif
        }
  for (int64_t H : {4, 8})
    for (Mask m : {Mask::none, Mask::causal, Mask::prefix})
      for (bool bwd : {false, true})
        for (Attn impl : {Attn::fused, Attn::composed, Attn::basic}) {
          std::string name = std::string("attention/") + attn_name(impl) + "/32/" + std::to_string(H) + "/81/64/" +
                             mask_name(m) + "/" + (bwd ? "fwdbwd" : "fwd");
          benchmark::RegisterBenchmark(name.c_str(), bm_attention, impl, 32, H, 81, 64, m, bwd)
              ->Unit(benchmark::kMillisecond)
              ->UseManualTime();
        }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // which kernels ran: the GEMM's family and the vector kind of the dispatched row kernels
  benchmark::AddCustomContext("unigen_kernel", unigen::cpu::cpu_kernel_name());
  benchmark::AddCustomContext("unigen_row_kernels", unigen::cpu::row_kernel_name());
  std::fprintf(stderr, "threads %d, memory bandwidth (copy, read + write) %.1f GB/s\n", omp_get_max_threads(),
               best_bandwidth() / 1e9);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
