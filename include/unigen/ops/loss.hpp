#pragma once
// Losses: cross_entropy from logits (label smoothing, ignore_index, class weights) and mse.
#include <algorithm>
#include <cmath>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "unigen/ops/reduce.hpp"
#include "unigen/ops/softmax.hpp"

namespace unigen {

enum class Reduction { mean, sum, none };

struct CrossEntropyOptions {
  double label_smoothing = 0.0;  // ε: the target is (1−ε)·one_hot + ε/C
  int64_t ignore_index = -100;   // targets equal to this contribute nothing (and are not counted)
  Reduction reduction = Reduction::mean;
};

namespace detail {

// Per-call constants of cross_entropy: ε, class weights w: [C] and W = Σ w.
template <class A>
struct CrossEntropyConst {
  A eps, wsum;
  std::vector<A> w;
  bool weighted;
};

// One row's loss from logits z: [C] and target t, and its log-sum-exp (kept for the backward):
// (1−ε)·w[t]·(lse − z_t) + (ε/C)·(W·lse − Σ_c w[c]·z_c).
template <class T>
std::pair<acc_t<T>, acc_t<T>> cross_entropy_row(const T* z, int64_t C, int64_t t, const CrossEntropyConst<acc_t<T>>& k) {
  using A = acc_t<T>;
  const A m = cpu::row_max(z, C);
  const A lse = m + std::log(cpu::row_exp_sum(z, static_cast<T*>(nullptr), C, m));
  A loss = (1 - k.eps) * k.w[size_t(t)] * (lse - A(z[t]));
  if (k.eps > 0) {
    A wz = 0;
    if (k.weighted)
      for (int64_t c = 0; c < C; ++c) wz += k.w[size_t(c)] * A(z[c]);
    else
      wz = cpu::row_sum(z, C);
    loss += k.eps / A(C) * (k.wsum * lse - wz);
  }
  return {loss, lse};
}

// Gradient of one row, z, gz: [C], p: [C] scratch, scaled by `scale` (the upstream gradient over the
// mean's denominator): d/dz_c = (1−ε)·w[t]·(p_c − [c = t]) + (ε/C)·(W·p_c − w[c]), p = exp(z − lse).
template <class T>
void cross_entropy_backward_row(const T* z, T* gz, acc_t<T>* p, int64_t C, int64_t t, acc_t<T> lse, acc_t<T> scale,
                                const CrossEntropyConst<acc_t<T>>& k) {
  using A = acc_t<T>;
  const A a = (1 - k.eps) * k.w[size_t(t)] + k.eps / A(C) * k.wsum, b = k.eps / A(C);
  if constexpr (std::is_same_v<T, A>) {
    cpu::row_exp_sum(z, p, C, lse);
  } else {  // bf16/f16: widened first, since row_exp_sum writes the type it reads
    for (int64_t c = 0; c < C; ++c) p[c] = A(z[c]);
    cpu::row_exp_sum(p, p, C, lse);
  }
  const A* w = k.w.data();
  for (int64_t c = 0; c < C; ++c) gz[c] = T(scale * (a * p[c] - b * w[c]));
  gz[t] = T(scale * (a * p[t] - b * w[t] - (1 - k.eps) * w[t]));
}

}  // namespace detail

// logits: [..., C], target: [...] class ids, weight: [C] (undefined = all 1) -> scalar (mean/sum) or [...].
// Per position: (1−ε)·w[y]·(−log p_y) + (ε/C)·Σ_c w[c]·(−log p_c); mean divides by Σ w[y] over the
// positions not ignored (PyTorch's definition). Fused: one pass per row for max, log-sum-exp and loss;
// only the lse of each row is kept, and the backward writes the gradient row from it directly.
template <Floating T>
Tensor<T> cross_entropy(const Tensor<T>& logits, const Tensor<int64_t>& target, const CrossEntropyOptions& opt = {},
                        const Tensor<T>& weight = {}) {
  using A = acc_t<T>;
  detail::require_cpu("cross_entropy", logits, target);
  check(logits.dim() >= 1, "cross_entropy: logits of shape ", logits.shape(), " have no class dim");
  const int64_t C = logits.size(-1);
  Shape ts(logits.shape().begin(), logits.shape().end() - 1);
  check(target.shape() == ts, "cross_entropy: target of shape ", target.shape(), " does not match logits ",
        logits.shape(), " (expected ", ts, ")");
  check(!weight.defined() || weight.shape() == Shape{C}, "cross_entropy: weight of shape ",
        weight.defined() ? weight.shape() : Shape{}, " for ", C, " classes");
  check(opt.label_smoothing >= 0 && opt.label_smoothing <= 1, "cross_entropy: label_smoothing ", opt.label_smoothing,
        " not in [0, 1]");
  Tensor<T> z = logits.detach().contiguous();
  auto y = std::make_shared<std::vector<int64_t>>(target.to_vector());
  auto k = std::make_shared<detail::CrossEntropyConst<A>>(
      detail::CrossEntropyConst<A>{A(opt.label_smoothing), A(0), std::vector<A>(size_t(C), A(1)), weight.defined()});
  if (weight.defined()) {
    auto wv = weight.to_vector();
    for (int64_t c = 0; c < C; ++c) k->w[size_t(c)] = A(wv[size_t(c)]);
  }
  for (A v : k->w) k->wsum += v;
  const int64_t n = int64_t(y->size());
  A denom = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = (*y)[size_t(i)];
    if (t == opt.ignore_index) continue;
    check(t >= 0 && t < C, "cross_entropy: target ", t, " at position ", i, " out of range for ", C, " classes");
    denom += k->w[size_t(t)];
  }
  std::vector<A> loss(size_t(n), A(0));
  auto lse = std::make_shared<std::vector<A>>(size_t(n), A(0));
  const T* zp = z.data();
#pragma omp parallel for if (n * C > (1 << 15)) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = (*y)[size_t(i)];
    if (t != opt.ignore_index)
      std::tie(loss[size_t(i)], (*lse)[size_t(i)]) = detail::cross_entropy_row(zp + i * C, C, t, *k);
  }
  Tensor<T> out;
  if (opt.reduction == Reduction::none) {
    out = Tensor<T>::empty(ts);
    for (int64_t i = 0; i < n; ++i) out.data()[i] = T(loss[size_t(i)]);
  } else {
    A total = 0;
    for (A v : loss) total += v;
    out = Tensor<T>::scalar(double(opt.reduction == Reduction::mean ? total / denom : total));
  }
  autograd::record("cross_entropy", out, [logits, z, y, k, lse, C, n, denom, opt](const Tensor<T>& g) {
    Tensor<T> gz = Tensor<T>::empty(logits.shape());
    std::vector<T> gv = g.to_vector();
    T* gp = gz.data();
    const T* zp = z.data();
#pragma omp parallel if (n * C > (1 << 15))
    {
      std::vector<A> p(static_cast<size_t>(C));
#pragma omp for schedule(static)
      for (int64_t i = 0; i < n; ++i) {
        const int64_t t = (*y)[size_t(i)];
        if (t == opt.ignore_index) {
          std::fill(gp + i * C, gp + (i + 1) * C, T(0));
          continue;
        }
        const A scale = opt.reduction == Reduction::none ? A(gv[size_t(i)])
                        : opt.reduction == Reduction::mean ? A(gv[0]) / denom : A(gv[0]);
        detail::cross_entropy_backward_row(zp + i * C, gp + i * C, p.data(), C, t, (*lse)[size_t(i)], scale, *k);
      }
    }
    autograd::accumulate(logits, std::move(gz));
  }, logits);
  return out;
}

// Mean (or sum, or elementwise) squared error between a and b (broadcast together).
template <Floating T>
Tensor<T> mse(const Tensor<T>& a, const Tensor<T>& b, Reduction r = Reduction::mean) {
  Tensor<T> d = pow(sub(a, b), 2.0);
  return r == Reduction::mean ? mean(d) : r == Reduction::sum ? sum(d) : d;
}

}  // namespace unigen
