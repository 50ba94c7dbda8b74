#pragma once
// layer_norm over the last dim.
#include <cmath>
#include <tuple>
#include <utility>
#include <vector>

#include "unigen/ops/softmax.hpp"

namespace unigen {

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
      std::tie(st[2 * r], st[2 * r + 1]) = cpu::layer_norm_row(in + r * n, out + r * n, wp, bp, n, eps, stream);
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
          cpu::layer_norm_backward_row(xv + r * n, gv + r * n, wp, out + r * n, n, st[2 * r], st[2 * r + 1],
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
