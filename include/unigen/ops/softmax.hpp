#pragma once
// softmax and log_softmax along a dim. Each row is read from memory once: its max, exp-and-sum and scale
// passes (softmax_row) run over it while it sits in L1.
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "unigen/backend/cpu/vec_math.hpp"
#include "unigen/ops/map.hpp"

namespace unigen {

namespace detail {

// Runs f(rows, n, ptrs...) on dense copies of the inputs with `dim` moved last (each a [rows, n]
// matrix), writing into a fresh tensor of the same layout; returns it viewed back in x's dim order.
template <class T, class F, class... More>
Tensor<T> along_last(const char* op, int64_t dim, F f, const Tensor<T>& x, const More&... more) {
  require_cpu(op, x, more...);
  dim = norm_dim(dim, std::max<int64_t>(x.dim(), 1), op);
  if (x.dim() == 0) return along_last(op, 0, f, x.reshape({1}), more.reshape({1})...).reshape({});
  Tensor<T> xt = x.transpose(dim, -1).contiguous();
  Tensor<T> out = Tensor<T>::empty(xt.shape());
  const int64_t n = x.size(dim), rows = n ? x.numel() / n : 0;
  f(rows, n, out.data(), xt.data(), more.transpose(dim, -1).contiguous().data()...);
  return out.transpose(dim, -1);
}

// Runs f(r) for every row r < rows (of n elements), on OpenMP threads when there is enough work.
// stream: f writes its rows with non-temporal stores (cpu::map_row), so each thread fences at the end.
template <class F>
void for_each_row(int64_t rows, int64_t n, bool stream, F f) {
#pragma omp parallel if (rows * n > (1 << 15))
  {
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) f(r);
    if (stream) cpu::stream_fence();
  }
}

// One row of softmax (log = false) or log_softmax (log = true), x, y: [n]: a pass for the max, one
// for exp and its sum, one to scale (or shift). A row that is entirely -inf (fully masked attention)
// gives zeros rather than NaN. stream (float rows): y goes out with non-temporal stores, softmax
// keeping its exps in a per-thread scratch row (in L1) until they are scaled. On the Intel Xeon, in one
// process alternating (32768×1024, 1 and 2 threads): softmax 1.25–1.32× as fast (recomputing exp in
// the streamed pass instead: 1.0–1.19×), log_softmax 1.27–1.31×. On Zen 4 the scratch row had made
// softmax 0.74–0.84× as fast.
template <class T>
void softmax_row(const T* x, T* y, int64_t n, bool log, bool stream) {
  using A = acc_t<T>;
  const A m = cpu::row_max(x, n);
  if (m == -std::numeric_limits<A>::infinity()) {
    for (int64_t j = 0; j < n; ++j) y[j] = T(log ? m : A(0));
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (stream) {
      if (log) {
        const float ls = m + std::log(cpu::row_exp_sum(x, static_cast<float*>(nullptr), n, m));
        cpu::map_row(y, n, true, [ls](auto xv) { return xv - ls; }, x);
      } else {
        thread_local std::vector<float> e;  // grows to the longest row seen, then reused
        if (e.size() < size_t(n)) e.resize(size_t(n));
        const float inv = 1.0f / cpu::row_exp_sum(x, e.data(), n, m);
        cpu::map_row(y, n, true, [inv](auto ev) { return ev * inv; }, static_cast<const float*>(e.data()));
      }
      return;
    }
  }
  // exp is stored in y and scaled in place when T is its own compute type; bf16/f16 recompute it
  // rather than round it twice
  constexpr bool keep = std::is_same_v<T, A>;
  const A s = cpu::row_exp_sum(x, log || !keep ? nullptr : y, n, m);
  if (log) {
    const A ls = m + std::log(s);
    for (int64_t j = 0; j < n; ++j) y[j] = T(A(x[j]) - ls);
  } else {
    const A inv = A(1) / s;
    for (int64_t j = 0; j < n; ++j) y[j] = T((keep ? A(y[j]) : cpu::exp_acc(A(x[j]) - m)) * inv);
  }
}

// Backward of one row, y (the forward's output), g, gx: [n]. softmax: gx = y·(g − Σ g·y);
// log_softmax: gx = g − exp(y)·Σ g. stream: float rows are written with non-temporal stores.
template <class T>
void softmax_backward_row(const T* y, const T* g, T* gx, int64_t n, bool log, bool stream) {
  using A = acc_t<T>;
  if constexpr (std::is_same_v<T, float>) {
    if (log) {
      const float s = cpu::row_sum(g, n);
      cpu::map_row(gx, n, stream, [s](auto gv, auto yv) { return gv - cpu::vexp(yv) * s; }, g, y);
    } else {
      const float s = cpu::row_dot(g, y, n);
      cpu::map_row(gx, n, stream, [s](auto yv, auto gv) { return yv * (gv - s); }, y, g);
    }
  } else {
    const A s = log ? cpu::row_sum(g, n) : cpu::row_dot(g, y, n);
    for (int64_t j = 0; j < n; ++j)
      gx[j] = T(log ? A(g[j]) - cpu::exp_acc(A(y[j])) * s : A(y[j]) * (A(g[j]) - s));
  }
}

template <Floating T>
Tensor<T> softmax_impl(const char* op, const Tensor<T>& x, int64_t dim, bool log) {
  Tensor<T> y = along_last(op, dim, [log](int64_t rows, int64_t n, T* out, const T* in) {
    const bool stream = cpu::streams(rows * n * int64_t(sizeof(T)));
    for_each_row(rows, n, stream, [&](int64_t r) { softmax_row(in + r * n, out + r * n, n, log, stream); });
  }, x);
  autograd::record(op, y, [x, dim, log, op, y0 = y.detach()](const Tensor<T>& g) {
    autograd::accumulate(x, along_last(op, dim, [log](int64_t rows, int64_t n, T* gx, const T* yv, const T* gv) {
      const bool stream = cpu::streams(rows * n * int64_t(sizeof(T)));
      for_each_row(rows, n, stream,
                   [&](int64_t r) { softmax_backward_row(yv + r * n, gv + r * n, gx + r * n, n, log, stream); });
    }, y0, g));
  }, x);
  return y;
}

}  // namespace detail

// exp(x) / Σ exp(x) along dim.
template <Floating T>
Tensor<T> softmax(const Tensor<T>& x, int64_t dim = -1) {
  return detail::softmax_impl("softmax", x, dim, false);
}
// x − log Σ exp(x) along dim.
template <Floating T>
Tensor<T> log_softmax(const Tensor<T>& x, int64_t dim = -1) {
  return detail::softmax_impl("log_softmax", x, dim, true);
}

}  // namespace unigen
