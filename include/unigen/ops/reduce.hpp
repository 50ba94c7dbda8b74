#pragma once
// Reductions over dims (keepdim or not): sum, mean, max, min, argmax.
#include <algorithm>
#include <limits>
#include <vector>

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

// Reduces the `red` dims of a: for each output element, step(acc, x, j) folds the reduced block's
// elements x (j counts them in row-major order) into acc, starting from init; done(acc) gives the value.
template <class Out, class T, class Acc, class Step, class Done>
Tensor<Out> reduce(const char* op, const Tensor<T>& a, const std::vector<bool>& red, bool keepdim, Acc init, Step step,
                   Done done) {
  require_cpu(op, a);
  Shape kept, kept_st, rs, rs_st;
  for (size_t i = 0; i < a.shape().size(); ++i) {
    if (red[i]) rs.push_back(a.shape()[i]), rs_st.push_back(a.strides()[i]);
    else kept.push_back(a.shape()[i]), kept_st.push_back(a.strides()[i]);
  }
  Tensor<Out> out = Tensor<Out>::empty(reduced_shape(a.shape(), red, keepdim));
  Out* o = out.data();
  const T* p = a.impl().storage.get();
  Shape ost = contiguous_strides(kept);
  std::vector<std::array<int64_t, 2>> starts;
  starts.reserve(size_t(numel_of(kept)));
  cpu::strided_for_each<2>(kept, {ost.data(), kept_st.data()}, {0, a.offset()},
                           [&](const std::array<int64_t, 2>& off) { starts.push_back(off); });
  const int64_t n = int64_t(starts.size());
#pragma omp parallel for if (n * numel_of(rs) > (1 << 16)) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    Acc acc = init;
    int64_t j = 0;
    cpu::strided_for_each<1>(rs, {rs_st.data()}, {starts[size_t(i)][1]},
                             [&](const std::array<int64_t, 1>& off) { step(acc, static_cast<acc_t<T>>(p[off[0]]), j++); });
    o[starts[size_t(i)][0]] = Out(done(acc));
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
                                    [](A acc) { return acc; });
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
// max (sign = +1) or min (sign = -1) over dims; the gradient is shared equally among tied extremes.
template <Floating T>
Tensor<T> extremum(const char* op, const Tensor<T>& a, const std::vector<int64_t>& dims, bool keepdim, int sign) {
  auto red = reduced_dims(a.shape(), dims, op);
  for (size_t i = 0; i < red.size(); ++i) check(!red[i] || a.shape()[i] > 0, op, ": empty dim in shape ", a.shape());
  using A = acc_t<T>;
  Tensor<T> out = reduce<T>(op, a, red, keepdim, -std::numeric_limits<A>::infinity(),
                            [sign](A& acc, A x, int64_t) { acc = std::max(acc, A(sign) * x); },
                            [sign](A acc) { return A(sign) * acc; });
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
