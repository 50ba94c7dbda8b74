#pragma once
// Scaled dot-product attention with a boolean mask and a causal flag: a fused CPU kernel that holds one
// block of query rows' scores at a time (forward and backward), and the composition of basic ops that
// it is tested and benchmarked against.
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "unigen/ops/matmul.hpp"
#include "unigen/ops/softmax.hpp"

namespace unigen {

namespace detail {

// The shapes and mask of one attention call, resolved: batch dims flattened to BH, and for each of
// the BH slices the offset of its [Tq, Tk] mask (the mask may broadcast over any dims).
struct AttentionGeometry {
  int64_t BH = 0, Tq = 0, Tk = 0, d = 0, dv = 0;
  Shape batch;
  double scale = 1.0;
  bool causal = false;
  Tensor<bool> mask;                 // expanded to [batch..., Tq, Tk] (a view), or undefined
  std::vector<int64_t> mask_offset;  // per slice
  int64_t mask_rs = 0, mask_cs = 0;  // row and column strides of the mask
  bool allowed(int64_t b, int64_t i, int64_t j) const {
    if (causal && j > i) return false;
    return !mask.defined() || mask.impl().storage.get()[mask_offset[size_t(b)] + i * mask_rs + j * mask_cs];
  }
};

// Where each of the BH slices of x's last two dims starts in its storage, x broadcast to `batch` (the
// slices a broadcast dim repeats share an offset).
template <class T>
std::vector<int64_t> slice_offsets(const Tensor<T>& x, const Shape& batch) {
  Shape xb(x.shape().begin(), x.shape().end() - 2), xst(x.strides().begin(), x.strides().end() - 2);
  Shape bst = broadcast_strides(xb, xst, batch);
  std::vector<int64_t> off;
  cpu::strided_for_each<1>(batch, {bst.data()}, {x.offset()},
                           [&](const std::array<int64_t, 1>& o) { off.push_back(o[0]); });
  return off;
}

template <class T>
AttentionGeometry attention_geometry(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                     const Tensor<bool>& mask, bool causal, double scale) {
  const char* op = "scaled_dot_product_attention";
  check(q.dim() >= 2 && k.dim() == q.dim() && v.dim() == q.dim(), op, ": q ", q.shape(), ", k ", k.shape(), ", v ",
        v.shape(), " must have the same rank >= 2");
  check(q.size(-1) == k.size(-1) && k.size(-2) == v.size(-2), op, ": q ", q.shape(), ", k ", k.shape(), ", v ",
        v.shape(), " do not match");
  AttentionGeometry g;
  g.Tq = q.size(-2), g.Tk = k.size(-2), g.d = q.size(-1), g.dv = v.size(-1);
  Shape qb(q.shape().begin(), q.shape().end() - 2), kb(k.shape().begin(), k.shape().end() - 2),
      vb(v.shape().begin(), v.shape().end() - 2);
  g.batch = broadcast_shapes(broadcast_shapes(qb, kb, op), vb, op);
  g.BH = numel_of(g.batch);
  g.scale = scale > 0 ? scale : 1.0 / std::sqrt(double(g.d));
  g.causal = causal;
  if (mask.defined()) {
    Shape full = g.batch;
    full.push_back(g.Tq);
    full.push_back(g.Tk);
    check(broadcast_shapes(full, mask.shape(), op) == full, op, ": mask ", mask.shape(), " does not broadcast to scores ",
          full);
    g.mask = mask.expand(full);
    g.mask_rs = g.mask.stride(-2), g.mask_cs = g.mask.stride(-1);
    g.mask_offset = slice_offsets(g.mask, g.batch);
  }
  return g;
}

// An input of the attention kernels, [..., T, c] seen as BH slices of [T, c] in compute type A: slice b
// at p + off[b] (broadcast slices share an offset), its rows ld apart, each row c contiguous values.
// keep holds the storage.
template <class A>
struct AttentionOperand {
  Tensor<A> keep;
  const A* p = nullptr;
  std::vector<int64_t> off;
  int64_t ld = 0;
  const A* slice(int64_t b) const { return p + off[size_t(b)]; }
};

// x read in place when it is already of type A with contiguous rows (the q, k, v views of a fused
// projection, whose rows are 3·d apart, and the strided gradient of a head merge), else converted to
// a dense copy first. batch: the broadcast batch dims of the call.
template <class A, class T>
AttentionOperand<A> attention_operand(const Tensor<T>& x, const Shape& batch) {
  AttentionOperand<A> r;
  const int64_t rows = x.size(-2), cols = x.size(-1);
  const bool rows_ok = (x.stride(-1) == 1 || cols == 1) && (rows <= 1 || x.stride(-2) >= cols);
  if constexpr (std::is_same_v<A, T>) {
    if (rows_ok) r.keep = x.detach();
  }
  if (!r.keep.defined()) r.keep = x.detach().template to<A>().contiguous();
  r.p = r.keep.impl().storage.get();
  r.ld = rows <= 1 ? cols : r.keep.stride(-2);
  r.off = slice_offsets(r.keep, batch);
  return r;
}

// Sets to -inf the scores row: [Tk] of query i in slice b that it may not attend to (g.allowed, a row at a time).
template <class A>
void mask_scores_row(const AttentionGeometry& g, int64_t b, int64_t i, A* row) {
  const A ninf = -std::numeric_limits<A>::infinity();
  if (g.causal && i + 1 < g.Tk) std::fill(row + i + 1, row + g.Tk, ninf);
  if (!g.mask.defined()) return;
  const bool* m = g.mask.impl().storage.get() + g.mask_offset[size_t(b)] + i * g.mask_rs;
  const int64_t end = g.causal ? std::min(i + 1, g.Tk) : g.Tk;
  if (g.mask_cs == 1) {
    cpu::select_row(m, row, end, ninf);
  } else {
    for (int64_t j = 0; j < end; ++j)
      if (!m[j * g.mask_cs]) row[j] = ninf;
  }
}

// Query rows whose scores are held at once: as many as fit 32 Ki floats (128 KiB, inside L2), at least
// 64 so the block's products stay GEMM-shaped, a multiple of 8 (the AVX-512 kernel's rows). At T = 81 a
// whole slice is one block, so each slice packs its keys once per product instead of once per block.
inline int64_t attention_row_block(int64_t Tk) { return std::max<int64_t>(64, 32768 / std::max<int64_t>(Tk, 1) / 8 * 8); }

// Forward: o = softmax(scale·q·kᵀ masked)·v (o dense [BH, Tq, dv]), and lse (log-sum-exp of each row's
// scaled, masked scores; -inf for a row that may attend to nothing, whose output is 0).
template <class A>
void attention_forward(const AttentionGeometry& g, const AttentionOperand<A>& q, const AttentionOperand<A>& k,
                       const AttentionOperand<A>& v, A* o, A* lse) {
  const int64_t Tq = g.Tq, Tk = g.Tk, d = g.d, dv = g.dv, RB = attention_row_block(Tk);
  const int64_t nblk = (Tq + RB - 1) / RB;
  const A ninf = -std::numeric_limits<A>::infinity();
#pragma omp parallel
  {
    std::vector<A> s(static_cast<size_t>(RB * Tk));
#pragma omp for schedule(static)
    for (int64_t job = 0; job < g.BH * nblk; ++job) {
      const int64_t b = job / nblk, r0 = (job % nblk) * RB, rb = std::min(RB, Tq - r0);
      gemm<A>(false, true, rb, Tk, d, g.scale, q.slice(b) + r0 * q.ld, q.ld, k.slice(b), k.ld, 0.0, s.data(), Tk);
      for (int64_t i = 0; i < rb; ++i) {
        A* row = s.data() + i * Tk;
        mask_scores_row(g, b, r0 + i, row);
        const A m = cpu::row_max(row, Tk);
        if (m == ninf) {
          std::fill(row, row + Tk, A(0));
          lse[b * Tq + r0 + i] = ninf;
          continue;
        }
        const A sum = cpu::row_exp_sum(row, row, Tk, m);
        lse[b * Tq + r0 + i] = m + std::log(sum);
        const A inv = A(1) / sum;
        for (int64_t j = 0; j < Tk; ++j) row[j] *= inv;
      }
      gemm<A>(false, false, rb, dv, Tk, 1.0, s.data(), Tk, v.slice(b), v.ld, 0.0, o + (b * Tq + r0) * dv, dv);
    }
  }
}

// Backward: from do, recomputes each block's probabilities from lse and writes dq, dk, dv (dense
// [BH, T, c]; dk and dv are set by a slice's first row block and added to by the others, so none needs
// zeroing first). o, lse: the forward's. With D_i = Σ_c do_ic·o_ic:
//   dv += pᵀ·do;  dp = do·vᵀ;  ds = p∘(dp − D);  dq = scale·ds·k;  dk += scale·dsᵀ·q.
template <class A>
void attention_backward(const AttentionGeometry& g, const AttentionOperand<A>& q, const AttentionOperand<A>& k,
                        const AttentionOperand<A>& v, const A* o, const A* lse, const AttentionOperand<A>& dout, A* dq,
                        A* dk, A* dvv) {
  const int64_t Tq = g.Tq, Tk = g.Tk, d = g.d, dv = g.dv, RB = attention_row_block(Tk);
  const A ninf = -std::numeric_limits<A>::infinity();
  if (Tq == 0) {  // no row block to set dk and dv: no query depends on the keys and values
    std::fill(dk, dk + g.BH * Tk * d, A(0));
    std::fill(dvv, dvv + g.BH * Tk * dv, A(0));
    return;
  }
#pragma omp parallel
  {
    std::vector<A> p(static_cast<size_t>(RB * Tk)), dp(static_cast<size_t>(RB * Tk)), D(static_cast<size_t>(RB));
    // one thread per slice, so the dk and dv accumulations of a slice never race
#pragma omp for schedule(static)
    for (int64_t b = 0; b < g.BH; ++b) {
      for (int64_t r0 = 0; r0 < Tq; r0 += RB) {
        const int64_t rb = std::min(RB, Tq - r0);
        const A *qb = q.slice(b) + r0 * q.ld, *ob = o + (b * Tq + r0) * dv, *dob = dout.slice(b) + r0 * dout.ld;
        const double acc = r0 == 0 ? 0.0 : 1.0;  // beta of the dk and dv products
        gemm<A>(false, true, rb, Tk, d, g.scale, qb, q.ld, k.slice(b), k.ld, 0.0, p.data(), Tk);
        for (int64_t i = 0; i < rb; ++i) {
          const A l = lse[b * Tq + r0 + i];
          A* row = p.data() + i * Tk;
          mask_scores_row(g, b, r0 + i, row);
          if (l == ninf)
            std::fill(row, row + Tk, A(0));
          else
            cpu::row_exp_sum(row, row, Tk, l);
          D[size_t(i)] = cpu::row_dot(dob + i * dout.ld, ob + i * dv, dv);
        }
        gemm<A>(true, false, Tk, dv, rb, 1.0, p.data(), Tk, dob, dout.ld, acc, dvv + b * Tk * dv, dv);
        gemm<A>(false, true, rb, Tk, dv, 1.0, dob, dout.ld, v.slice(b), v.ld, 0.0, dp.data(), Tk);
        for (int64_t i = 0; i < rb; ++i)
          for (int64_t j = 0; j < Tk; ++j) p[size_t(i * Tk + j)] *= dp[size_t(i * Tk + j)] - D[size_t(i)];
        gemm<A>(false, false, rb, d, Tk, g.scale, p.data(), Tk, k.slice(b), k.ld, 0.0, dq + (b * Tq + r0) * d, d);
        gemm<A>(true, false, Tk, d, rb, g.scale, p.data(), Tk, qb, q.ld, acc, dk + b * Tk * d, d);
      }
    }
  }
}

// scale·q·kᵀ with -inf where the mask (and the causal flag) forbids: [..., Tq, Tk], materialised with
// basic ops (matmul, mul, masked_fill).
template <Floating T>
Tensor<T> attention_scores_composed(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                    const Tensor<bool>& mask, bool causal, double scale) {
  AttentionGeometry g = attention_geometry(q, k, v, mask, causal, scale);
  Tensor<T> s = mul(matmul(q, k.mT()), g.scale);
  Tensor<bool> keep = mask;
  if (causal) {
    Tensor<bool> tri = Tensor<bool>::empty({g.Tq, g.Tk});
    for (int64_t i = 0; i < g.Tq; ++i)
      for (int64_t j = 0; j < g.Tk; ++j) tri.data()[i * g.Tk + j] = j <= i;
    keep = keep.defined() ? logical_and(keep, tri) : tri;
  }
  return keep.defined() ? masked_fill(s, logical_not(keep), -std::numeric_limits<double>::infinity()) : s;
}

// The same attention as a composition of basic ops (matmul, masked_fill, softmax, matmul): the
// reference the fused kernel is tested and benchmarked against. Materialises all T×T scores.
template <Floating T>
Tensor<T> attention_composed(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const Tensor<bool>& mask = {},
                             bool causal = false, double scale = 0.0) {
  return matmul(softmax(attention_scores_composed(q, k, v, mask, causal, scale), -1), v);
}

}  // namespace detail

// q: [..., Tq, d], k: [..., Tk, d], v: [..., Tk, dv] -> [..., Tq, dv] (batch dims broadcast).
// mask: bool, broadcastable to [..., Tq, Tk], true = may attend (undefined = all); causal: query i sees
// keys j <= i. A query that may attend to nothing gets a zero output. scale <= 0 means 1/sqrt(d).
template <Floating T>
Tensor<T> scaled_dot_product_attention(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                       const Tensor<bool>& mask = {}, bool causal = false, double scale = 0.0) {
  using A = acc_t<T>;
  detail::require_cpu("scaled_dot_product_attention", q, k, v);
  detail::AttentionGeometry g = detail::attention_geometry(q, k, v, mask, causal, scale);
  auto qa = detail::attention_operand<A>(q, g.batch), ka = detail::attention_operand<A>(k, g.batch),
       va = detail::attention_operand<A>(v, g.batch);
  Tensor<A> o = Tensor<A>::empty({g.BH, g.Tq, g.dv}), lse = Tensor<A>::empty({g.BH, g.Tq});
  detail::attention_forward<A>(g, qa, ka, va, o.data(), lse.data());
  Shape os = g.batch;
  os.push_back(g.Tq);
  os.push_back(g.dv);
  Tensor<T> out = o.view(os).template to<T>();
  autograd::record("scaled_dot_product_attention", out, [q, k, v, g, qa, ka, va, o, lse](const Tensor<T>& grad) {
    auto dout = detail::attention_operand<A>(grad, g.batch);
    // written in full by attention_backward
    Tensor<A> dq = Tensor<A>::empty({g.BH, g.Tq, g.d}), dk = Tensor<A>::empty({g.BH, g.Tk, g.d}),
              dvv = Tensor<A>::empty({g.BH, g.Tk, g.dv});
    detail::attention_backward<A>(g, qa, ka, va, o.data(), lse.data(), dout, dq.data(), dk.data(), dvv.data());
    // gx is given up, so that a leaf takes the buffer itself as its gradient when nothing else holds it
    auto back = [&](const Tensor<T>& x, Tensor<A>&& gx) {
      Shape s = g.batch;
      s.push_back(x.size(-2));
      s.push_back(x.size(-1));
      Tensor<T> r = sum_to(gx.view(s).template to<T>(), x.shape());
      gx = Tensor<A>();
      autograd::accumulate(x, std::move(r));
    };
    back(q, std::move(dq));
    back(k, std::move(dk));
    back(v, std::move(dvv));
  }, q, k, v);
  return out;
}

}  // namespace unigen
