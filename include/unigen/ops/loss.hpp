#pragma once
// Losses: cross_entropy from logits (label smoothing, ignore_index, class weights) and mse.
#include <cmath>
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

// logits: [..., C], target: [...] class ids, weight: [C] (undefined = all 1) -> scalar (mean/sum) or [...].
// Per position: (1−ε)·w[y]·(−log p_y) + (ε/C)·Σ_c w[c]·(−log p_c); mean divides by Σ w[y] over the
// positions not ignored (PyTorch's definition).
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
  Tensor<T> lp = log_softmax(logits.detach(), -1).contiguous();
  std::vector<int64_t> y = target.to_vector();
  std::vector<A> w(size_t(C), A(1));
  if (weight.defined()) {
    auto wv = weight.to_vector();
    for (int64_t c = 0; c < C; ++c) w[size_t(c)] = A(wv[size_t(c)]);
  }
  A wsum = 0;
  for (A v : w) wsum += v;
  const A eps = A(opt.label_smoothing);
  const int64_t n = int64_t(y.size());
  std::vector<A> loss(size_t(n), A(0));
  A denom = 0;
  const T* lpp = lp.data();
  for (int64_t i = 0; i < n; ++i) {
    int64_t t = y[size_t(i)];
    if (t == opt.ignore_index) continue;
    check(t >= 0 && t < C, "cross_entropy: target ", t, " at position ", i, " out of range for ", C, " classes");
    const T* row = lpp + i * C;
    A smooth = 0;
    if (eps > 0)
      for (int64_t c = 0; c < C; ++c) smooth -= w[size_t(c)] * A(row[c]);
    loss[size_t(i)] = (1 - eps) * w[size_t(t)] * -A(row[t]) + eps / A(C) * smooth;
    denom += w[size_t(t)];
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
  autograd::record("cross_entropy", out, [logits, lp, y, w, wsum, eps, C, n, denom, opt](const Tensor<T>& g) {
    // d loss_i / d z_j = (1−ε)·w[y]·(p_j − [j = y]) + (ε/C)·(W·p_j − w[j]), W = Σ w
    Tensor<T> gz = Tensor<T>::zeros(logits.shape());
    std::vector<T> gv = g.to_vector();
    T* out = gz.data();
    const T* lpp = lp.data();
    for (int64_t i = 0; i < n; ++i) {
      int64_t t = y[size_t(i)];
      if (t == opt.ignore_index) continue;
      A scale = opt.reduction == Reduction::none ? A(gv[size_t(i)])
                : opt.reduction == Reduction::mean ? A(gv[0]) / denom : A(gv[0]);
      for (int64_t c = 0; c < C; ++c) {
        A p = std::exp(A(lpp[i * C + c]));
        A d = (1 - eps) * w[size_t(t)] * (p - A(c == t)) + eps / A(C) * (wsum * p - w[size_t(c)]);
        out[i * C + c] = T(scale * d);
      }
    }
    autograd::accumulate(logits, gz);
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
