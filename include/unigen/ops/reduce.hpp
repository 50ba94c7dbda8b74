#pragma once
// Reductions over dims (keepdim or not): sum, mean, max, min, argmax.
#include <algorithm>
#include <cstdlib>
#include <cstddef>
#include <functional>
#include <limits>
#include <type_traits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "unigen/ops/elementwise.hpp"

namespace unigen {

namespace detail {

// Which dims a reduction removes; an empty list means all of them.
inline std::vector<bool> reduced_dims(const Shape& s, const std::vector<int64_t>& dims, const char* op) {
  std::vector<bool> red(s.size(), dims.empty());
  for (auto d : dims) {
    int64_t k = norm_dim(d, int64_t(s.size()), op);
    check(!red[size_t(k)] || dims.empty(), op, ": dim ", d, " given twice");
    red[size_t(k)] = true;
  }
  return red;
}

// The result shape of reducing `red` dims of s.
inline Shape reduced_shape(const Shape& s, const std::vector<bool>& red, bool keepdim) {
  Shape r;
  for (size_t i = 0; i < s.size(); ++i)
    if (!red[i]) r.push_back(s[i]);
    else if (keepdim) r.push_back(1);
  return r;
}

// Folds a dense block p[0, len): chunk(q, count) folds each run of 64 Ki elements (on OpenMP threads
// when there are several and the caller is in no parallel region, active or not: see
// cpu::gemm_detail::max_threads), and combine(r, s) joins their results in order, so the result does not
// depend on the thread count.
template <class T, class Chunk, class Combine>
auto fold_dense(const T* p, int64_t len, Chunk chunk, Combine combine) {
  constexpr int64_t C = int64_t(1) << 16;
  if (len <= C) return chunk(p, len);
  const int64_t chunks = (len + C - 1) / C;
  std::vector<decltype(chunk(p, len))> part(static_cast<size_t>(chunks));
#ifdef _OPENMP
#pragma omp parallel for if (omp_get_level() == 0) schedule(static)
#endif
  for (int64_t c = 0; c < chunks; ++c) part[size_t(c)] = chunk(p + c * C, std::min(C, len - c * C));
  auto r = part[0];
  for (size_t c = 1; c < part.size(); ++c) r = combine(r, part[c]);
  return r;
}

// The larger of two values of max(sign·x), NaN when either is (the fold of extremum).
template <class A>
A max_or_nan(A a, A b) {
  return a != a || b != b ? std::numeric_limits<A>::quiet_NaN() : std::max(a, b);
}

// Reduces the `red` dims of a: for each output element, step(acc, x, j) folds the reduced block's
// elements x (j counts them in row-major order) into acc, starting from init; done(acc) gives the value.
// Loop orders:
//  - rows: one output at a time over its reduced block (the reduced elements are the close ones, e.g.
//    a sum over the last dim). When the block is dense and the op gives `block` (a fold of a whole
//    dense block, e.g. with fold_dense), that folds it instead of step, vectorised;
//  - columns: all outputs together, one reduced position j at a time (a kept dim is the innermost one in
//    memory, e.g. a bias gradient [N, C] -> [C]): every pass reads a contiguous run of a, and the
//    accumulators are independent, so the loop vectorises instead of walking a column at stride C.
// Rows with step and columns make the same folds in the same order per output; a block fold may add
// in another order (a sum's: in vector lanes and chunks), the same on any thread count.
template <class Out, class T, class Acc, class Step, class Done, class Block = std::nullptr_t>
Tensor<Out> reduce(const char* op, const Tensor<T>& a, const std::vector<bool>& red, bool keepdim, Acc init, Step step,
                   Done done, Block block = nullptr) {
  require_cpu(op, a);
  Shape kept, kept_st, rs, rs_st;
  int64_t inner_stride = std::numeric_limits<int64_t>::max();
  bool inner_kept = false;  // is the smallest-stride dim (of size > 1) a kept one?
  for (size_t i = 0; i < a.shape().size(); ++i) {
    if (red[i]) rs.push_back(a.shape()[i]), rs_st.push_back(a.strides()[i]);
    else kept.push_back(a.shape()[i]), kept_st.push_back(a.strides()[i]);
    if (a.shape()[i] > 1 && std::abs(a.strides()[i]) < inner_stride)
      inner_stride = std::abs(a.strides()[i]), inner_kept = !red[i];
  }
  Tensor<Out> out = Tensor<Out>::empty(reduced_shape(a.shape(), red, keepdim));
  Out* o = out.data();
  const T* p = a.impl().storage.get();
  const int64_t n = numel_of(kept), nr = numel_of(rs);
  // koff[i]: offset in a of output i's block (outputs are written densely in row-major order).
  std::vector<int64_t> koff;
  koff.reserve(size_t(n));
  cpu::strided_for_each<1>(kept, {kept_st.data()}, {a.offset()},
                           [&](const std::array<int64_t, 1>& off) { koff.push_back(off[0]); });
  [[maybe_unused]] const bool parallel = n * nr > (1 << 16);  // read only by the omp pragmas
  if constexpr (!std::is_null_pointer_v<Block>) {
    // dense block: the reduced dims (size-1 ones aside) are the innermost, row-major without gaps
    bool dense = !inner_kept || nr <= 1;
    for (int64_t i = int64_t(rs.size()) - 1, want = 1; i >= 0 && dense; --i)
      if (rs[size_t(i)] != 1) dense = rs_st[size_t(i)] == want, want *= rs[size_t(i)];
    if (dense && n == 1) {
      o[0] = Out(done(block(p + koff[0], nr)));  // the block fold shares a large block among threads
      return out;
    }
    if (dense) {
#pragma omp parallel for if (parallel) schedule(static)
      for (int64_t i = 0; i < n; ++i) o[i] = Out(done(block(p + koff[size_t(i)], nr)));
      return out;
    }
  }
  if (!inner_kept || nr <= 1 || n < 16) {
#pragma omp parallel for if (parallel) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      Acc acc = init;
      int64_t j = 0;
      cpu::strided_for_each<1>(rs, {rs_st.data()}, {koff[size_t(i)]},
                               [&](const std::array<int64_t, 1>& off) { step(acc, static_cast<acc_t<T>>(p[off[0]]), j++); });
      o[i] = Out(done(acc));
    }
    return out;
  }
  // Column order: reduced offsets once; then each thread folds a range of outputs over all of them.
  std::vector<int64_t> roff;
  roff.reserve(size_t(nr));
  cpu::strided_for_each<1>(rs, {rs_st.data()}, {0}, [&](const std::array<int64_t, 1>& off) { roff.push_back(off[0]); });
  bool dense = true;  // outputs' blocks at consecutive offsets: a contiguous run per reduced position
  for (int64_t i = 1; i < n && dense; ++i) dense = koff[size_t(i)] == koff[0] + i;
#pragma omp parallel if (parallel)
  {
    const auto [t, nt] = cpu::team_place();
    const int64_t i0 = n * t / nt, i1 = n * (t + 1) / nt;
    std::vector<Acc> acc(size_t(i1 - i0), init);
    for (int64_t j = 0; j < nr; ++j) {
      const T* pj = p + roff[size_t(j)];
      if (dense)
        for (int64_t i = i0; i < i1; ++i) step(acc[size_t(i - i0)], static_cast<acc_t<T>>(pj[koff[0] + i]), j);
      else
        for (int64_t i = i0; i < i1; ++i) step(acc[size_t(i - i0)], static_cast<acc_t<T>>(pj[koff[size_t(i)]]), j);
    }
    for (int64_t i = i0; i < i1; ++i) o[i] = Out(done(acc[size_t(i - i0)]));
  }
  return out;
}

// g (shape of a reduction's result) viewed with the reduced dims as size 1, then broadcast to `full`.
template <class T>
Tensor<T> expand_reduced(const Tensor<T>& g, const Shape& full, const std::vector<bool>& red) {
  return g.reshape(reduced_shape(full, red, true)).expand(full);
}

}  // namespace detail

// Sum over dims (all when empty): a: [..] -> reduced shape.
template <Floating T>
Tensor<T> sum(const Tensor<T>& a, const std::vector<int64_t>& dims = {}, bool keepdim = false) {
  auto red = detail::reduced_dims(a.shape(), dims, "sum");
  using A = acc_t<T>;
  Tensor<T> out = detail::reduce<T>("sum", a, red, keepdim, A(0), [](A& acc, A x, int64_t) { acc += x; },
                                    [](A acc) { return acc; }, [](const T* p, int64_t len) {
                                      return detail::fold_dense(p, len, cpu::row_sum<T>, std::plus<A>());
                                    });
  autograd::record("sum", out, [a, red](const Tensor<T>& g) {
    autograd::accumulate(a, detail::expand_reduced(g, a.shape(), red));
  }, a);
  return out;
}

// Mean over dims (all when empty).
template <Floating T>
Tensor<T> mean(const Tensor<T>& a, const std::vector<int64_t>& dims = {}, bool keepdim = false) {
  auto red = detail::reduced_dims(a.shape(), dims, "mean");
  int64_t count = 1;
  for (size_t i = 0; i < red.size(); ++i)
    if (red[i]) count *= a.shape()[i];
  check(count > 0, "mean: reducing an empty dim of shape ", a.shape());
  return mul(sum(a, dims, keepdim), 1.0 / double(count));
}

namespace detail {
// max (sign = +1) or min (sign = -1) over dims, NaN where the block holds a NaN; the gradient is shared
// equally among tied extremes (NaN over a block whose result is NaN).
template <Floating T>
Tensor<T> extremum(const char* op, const Tensor<T>& a, const std::vector<int64_t>& dims, bool keepdim, int sign) {
  auto red = reduced_dims(a.shape(), dims, op);
  for (size_t i = 0; i < red.size(); ++i) check(!red[i] || a.shape()[i] > 0, op, ": empty dim in shape ", a.shape());
  using A = acc_t<T>;
  Tensor<T> out = reduce<T>(
      op, a, red, keepdim, -std::numeric_limits<A>::infinity(),
      [sign](A& acc, A x, int64_t) { acc = max_or_nan(acc, A(sign) * x); }, [sign](A acc) { return A(sign) * acc; },
      [sign](const T* p, int64_t len) {
        return fold_dense(p, len, [sign](const T* q, int64_t m) { return cpu::row_max(q, m, sign); }, max_or_nan<A>);
      });
  autograd::record(op, out, [a, red, y = out.detach(), op](const Tensor<T>& g) {
    Tensor<T> yk = expand_reduced(y, a.shape(), red);
    Tensor<T> hit = map_as<T>(op, [](auto x, auto m) { return x == m ? 1 : 0; }, a, yk);
    Tensor<T> count = reduce<T>(op, hit, red, true, A(0), [](A& c, A x, int64_t) { c += x; }, [](A c) { return c; });
    autograd::accumulate(a, map(op, [](auto h, auto gv, auto c) { return h * gv / c; }, hit,
                                expand_reduced(g, a.shape(), red), count));
  }, a);
  return out;
}
}  // namespace detail

template <Floating T>
Tensor<T> max(const Tensor<T>& a, const std::vector<int64_t>& dims = {}, bool keepdim = false) {
  return detail::extremum("max", a, dims, keepdim, +1);
}
template <Floating T>
Tensor<T> min(const Tensor<T>& a, const std::vector<int64_t>& dims = {}, bool keepdim = false) {
  return detail::extremum("min", a, dims, keepdim, -1);
}

// Index of the largest element along dim (the first one on ties): a: [.., n, ..] -> [.., ..] (or keepdim).
template <Element T>
Tensor<int64_t> argmax(const Tensor<T>& a, int64_t dim, bool keepdim = false) {
  auto red = detail::reduced_dims(a.shape(), {dim}, "argmax");
  check(a.size(dim) > 0, "argmax: empty dim ", dim, " in shape ", a.shape());
  using A = acc_t<T>;
  struct Best { A v; int64_t i; };
  return detail::reduce<int64_t>("argmax", a, red, keepdim, Best{A(0), -1},
                                 [](Best& b, A x, int64_t j) { if (b.i < 0 || x > b.v) b = {x, j}; },
                                 [](Best b) { return b.i; });
}

}  // namespace unigen
