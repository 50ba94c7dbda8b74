#pragma once
// layer_norm over the last dim.
#include <cmath>
#include <tuple>
#include <utility>
#include <vector>

#include "unigen/ops/softmax.hpp"

namespace unigen {

namespace detail {

// One row of layer_norm, x, y, w, b: [n]: y = (x − mean)·rstd·w + b; returns {mean, rstd}. stream:
// float rows are written with non-temporal stores (cpu::map_row; the caller fences).
template <class T>
std::pair<acc_t<T>, acc_t<T>> layer_norm_row(const T* x, T* y, const T* w, const T* b, int64_t n, double eps,
                                             bool stream) {
  using A = acc_t<T>;
  const A m = cpu::row_sum(x, n) / A(n);
  const A rstd = A(1) / std::sqrt(cpu::row_sq_dev(x, n, m) / A(n) + A(eps));
  if constexpr (std::is_same_v<T, float>)
    cpu::map_row(y, n, stream, [m, rstd](auto u, auto wv, auto bv) { return (u - m) * rstd * wv + bv; }, x, w, b);
  else
    for (int64_t j = 0; j < n; ++j) y[j] = T((A(x[j]) - m) * rstd * A(w[j]) + A(b[j]));
  return {m, rstd};
}

// Backward of one row, x, g, w, gx: [n]; adds this row's g·xhat and g into gw, gb: [n].
// xhat = (x − m)·rstd, gy = g·w: gx = rstd·(gy − mean(gy) − xhat·mean(gy·xhat)). Two passes over the
// row (sums, then gx), recomputing xhat and gy rather than storing them; stream as in layer_norm_row.
template <class T>
void layer_norm_backward_row(const T* x, const T* g, const T* w, T* gx, int64_t n, acc_t<T> m, acc_t<T> rstd,
                             acc_t<T>* gw, acc_t<T>* gb, bool stream) {
  using A = acc_t<T>;
  A s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t j = 0; j < n; ++j) {
    const A xh = (A(x[j]) - m) * rstd, gj = A(g[j]), gy = gj * A(w[j]);
    gw[j] += gj * xh;
    gb[j] += gj;
    s1 += gy;
    s2 += gy * xh;
  }
  s1 /= A(n), s2 /= A(n);
  const auto gxf = [=](auto u, auto gv, auto wv) { return rstd * (gv * wv - s1 - (u - m) * rstd * s2); };
  if constexpr (std::is_same_v<T, float>)
    cpu::map_row(gx, n, stream, gxf, x, g, w);
  else
    for (int64_t j = 0; j < n; ++j) gx[j] = T(gxf(A(x[j]), A(g[j]), A(w[j])));
}

}  // namespace detail

// x: [..., D], weight/bias: [D] (undefined = none) -> [..., D]; (x − mean)/sqrt(var + eps)·weight + bias,
// the variance biased (divided by D).
template <Floating T>
Tensor<T> layer_norm(const Tensor<T>& x, const Tensor<T>& weight = {}, const Tensor<T>& bias = {}, double eps = 1e-5) {
  using A = acc_t<T>;
  check(x.dim() >= 1, "layer_norm: input of shape ", x.shape(), " has no dim to normalise");
  const int64_t D = x.size(-1);
  for (const Tensor<T>* p : {&weight, &bias})
    check(!p->defined() || p->shape() == Shape{D}, "layer_norm: input ", x.shape(), " needs weight and bias of shape ",
          Shape{D}, ", got ", p->defined() ? p->shape() : Shape{});
  Tensor<T> w = weight.defined() ? weight.contiguous() : Tensor<T>::ones({D});
  Tensor<T> b = bias.defined() ? bias.contiguous() : Tensor<T>::zeros({D});
  const int64_t rows = D ? x.numel() / D : 0;
  auto stats = std::make_shared<std::vector<A>>(size_t(2 * rows));  // mean, rstd per row
  Tensor<T> y = detail::along_last("layer_norm", -1, [&](int64_t, int64_t n, T* out, const T* in) {
    const T *wp = w.data(), *bp = b.data();
    A* st = stats->data();
    const bool stream = cpu::streams(rows * n * int64_t(sizeof(T)));
    detail::for_each_row(rows, n, stream, [&](int64_t r) {
      std::tie(st[2 * r], st[2 * r + 1]) = detail::layer_norm_row(in + r * n, out + r * n, wp, bp, n, eps, stream);
    });
  }, x);
  autograd::record("layer_norm", y, [x, weight, bias, w, stats, D, rows](const Tensor<T>& g) {
    // each thread sums its rows' gw, gb contributions privately; the totals are added up at the end
    std::vector<A> gwa(size_t(D), A(0)), gba(size_t(D), A(0));
    Tensor<T> gx = detail::along_last("layer_norm", -1, [&](int64_t, int64_t n, T* out, const T* xv, const T* gv) {
      const T* wp = w.data();
      const A* st = stats->data();
      const bool stream = cpu::streams(rows * n * int64_t(sizeof(T)));
#pragma omp parallel if (rows * n > (1 << 15))
      {
        std::vector<A> part(size_t(2 * n), A(0));  // gw, gb
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; ++r)
          detail::layer_norm_backward_row(xv + r * n, gv + r * n, wp, out + r * n, n, st[2 * r], st[2 * r + 1],
                                          part.data(), part.data() + n, stream);
        if (stream) cpu::stream_fence();
#pragma omp critical(unigen_layer_norm_backward)
        for (int64_t j = 0; j < n; ++j) gwa[size_t(j)] += part[size_t(j)], gba[size_t(j)] += part[size_t(n + j)];
      }
    }, x, g);
    autograd::accumulate(x, std::move(gx));
    Tensor<T> gw = Tensor<T>::empty({D}), gb = Tensor<T>::empty({D});
    for (int64_t j = 0; j < D; ++j) gw.data()[j] = T(gwa[size_t(j)]), gb.data()[j] = T(gba[size_t(j)]);
    if (weight.defined()) autograd::accumulate(weight, std::move(gw));
    if (bias.defined()) autograd::accumulate(bias, std::move(gb));
  }, x, weight, bias);
  return y;
}

}  // namespace unigen
