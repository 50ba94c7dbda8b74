#pragma once
// layer_norm over the last dim.
#include <cmath>
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
#pragma omp parallel for if (rows * n > (1 << 15)) schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = in + r * n;
      A m = 0, v = 0;
      for (int64_t j = 0; j < n; ++j) m += A(xr[j]);
      m /= A(n);
      for (int64_t j = 0; j < n; ++j) v += (A(xr[j]) - m) * (A(xr[j]) - m);
      A rstd = A(1) / std::sqrt(v / A(n) + A(eps));
      (*stats)[size_t(2 * r)] = m;
      (*stats)[size_t(2 * r + 1)] = rstd;
      for (int64_t j = 0; j < n; ++j) out[r * n + j] = T((A(xr[j]) - m) * rstd * A(wp[j]) + A(bp[j]));
    }
  }, x);
  autograd::record("layer_norm", y, [x, weight, bias, w, stats, D, rows](const Tensor<T>& g) {
    // xhat = (x − m)·rstd; gx = rstd·(gy − mean(gy) − xhat·mean(gy·xhat)) with gy = g·w
    Tensor<T> gw = Tensor<T>::zeros({D}), gb = Tensor<T>::zeros({D});
    std::vector<A> gwa(size_t(D), A(0)), gba(size_t(D), A(0));
    Tensor<T> gx = detail::along_last("layer_norm", -1, [&](int64_t, int64_t n, T* out, const T* xv, const T* gv) {
      const T* wp = w.data();
      for (int64_t r = 0; r < rows; ++r) {
        const T *xr = xv + r * n, *gr = gv + r * n;
        A m = (*stats)[size_t(2 * r)], rstd = (*stats)[size_t(2 * r + 1)], s1 = 0, s2 = 0;
        for (int64_t j = 0; j < n; ++j) {
          A xh = (A(xr[j]) - m) * rstd, gy = A(gr[j]) * A(wp[j]);
          s1 += gy;
          s2 += gy * xh;
          gwa[size_t(j)] += A(gr[j]) * xh;
          gba[size_t(j)] += A(gr[j]);
        }
        s1 /= A(n);
        s2 /= A(n);
        for (int64_t j = 0; j < n; ++j) {
          A xh = (A(xr[j]) - m) * rstd;
          out[r * n + j] = T(rstd * (A(gr[j]) * A(wp[j]) - s1 - xh * s2));
        }
      }
    }, x, g);
    autograd::accumulate(x, gx);
    for (int64_t j = 0; j < D; ++j) gw.data()[j] = T(gwa[size_t(j)]), gb.data()[j] = T(gba[size_t(j)]);
    if (weight.defined()) autograd::accumulate(weight, gw);
    if (bias.defined()) autograd::accumulate(bias, gb);
  }, x, weight, bias);
  return y;
}

}  // namespace unigen
