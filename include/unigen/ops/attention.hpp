#pragma once
// Scaled dot-product attention with a boolean mask and a causal flag.
#include <cmath>

#include "unigen/ops/matmul.hpp"
#include "unigen/ops/softmax.hpp"

namespace unigen {

// q: [..., Tq, d], k: [..., Tk, d], v: [..., Tk, dv] -> [..., Tq, dv].
// mask: bool, broadcastable to [..., Tq, Tk], true = may attend (undefined = all); causal: query i sees
// keys j <= i. A query that may attend to nothing gets a zero output. scale <= 0 means 1/sqrt(d).
template <Floating T>
Tensor<T> scaled_dot_product_attention(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                       const Tensor<bool>& mask = {}, bool causal = false, double scale = 0.0) {
  check(q.dim() >= 2 && k.dim() == q.dim() && v.dim() == q.dim(), "scaled_dot_product_attention: q ", q.shape(),
        ", k ", k.shape(), ", v ", v.shape(), " must have the same rank >= 2");
  check(q.size(-1) == k.size(-1) && k.size(-2) == v.size(-2), "scaled_dot_product_attention: q ", q.shape(), ", k ",
        k.shape(), ", v ", v.shape(), " do not match");
  const int64_t Tq = q.size(-2), Tk = k.size(-2);
  if (scale <= 0) scale = 1.0 / std::sqrt(double(q.size(-1)));
  Tensor<T> s = mul(matmul(q, k.mT()), scale);
  Tensor<bool> keep = mask;
  if (keep.defined())
    check(broadcast_shapes(s.shape(), keep.shape(), "scaled_dot_product_attention") == s.shape(),
          "scaled_dot_product_attention: mask ", keep.shape(), " does not broadcast to scores ", s.shape());
  if (causal) {
    Tensor<bool> tri = Tensor<bool>::empty({Tq, Tk});
    for (int64_t i = 0; i < Tq; ++i)
      for (int64_t j = 0; j < Tk; ++j) tri.data()[i * Tk + j] = j <= i;
    keep = keep.defined() ? logical_and(keep, tri) : tri;
  }
  if (keep.defined()) s = masked_fill(s, logical_not(keep), -std::numeric_limits<double>::infinity());
  return matmul(softmax(s, -1), v);
}

}  // namespace unigen
