#pragma once
// Joining and splitting along a dim: concat, stack (copies, one backward each) and split, chunk (views).
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "unigen/ops/map.hpp"

namespace unigen {

// Joins tensors along dim: xs[i]: [..., n_i, ...] (other dims equal) -> [..., Σ n_i, ...].
template <class T>
Tensor<T> concat(const std::vector<Tensor<T>>& xs, int64_t dim = 0) {
  check(!xs.empty(), "concat: no tensors given");
  for (const auto& x : xs) detail::require_cpu("concat", x);
  const Shape& s0 = xs[0].shape();
  const int64_t d = norm_dim(dim, xs[0].dim(), "concat");
  Shape shape = s0;
  shape[size_t(d)] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Shape& s = xs[i].shape();
    bool fits = s.size() == s0.size();
    for (size_t k = 0; fits && k < s.size(); ++k) fits = int64_t(k) == d || s[k] == s0[k];
    check(fits, "concat: tensor ", i, " of shape ", s, " does not match shape ", s0, " outside dim ", dim);
    shape[size_t(d)] += s[size_t(d)];
  }
  Tensor<T> out = Tensor<T>::empty(shape);
  int64_t outer = 1, rest = 1;
  for (int64_t k = 0; k < d; ++k) outer *= shape[size_t(k)];
  for (size_t k = size_t(d) + 1; k < shape.size(); ++k) rest *= shape[k];
  const int64_t out_row = shape[size_t(d)] * rest;
  std::vector<int64_t> starts;
  int64_t start = 0;
  for (const auto& x : xs) {
    starts.push_back(start);
    Tensor<T> xc = x.detach().contiguous();
    const int64_t row = x.size(d) * rest;
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(out.data() + o * out_row + start * rest, xc.data() + o * row, size_t(row) * sizeof(T));
    start += x.size(d);
  }
  if constexpr (Floating<T>) {
    autograd::record("concat", out, [xs, starts, d](const Tensor<T>& g) {
      for (size_t i = 0; i < xs.size(); ++i) autograd::accumulate(xs[i], g.narrow(d, starts[i], xs[i].size(d)));
    }, xs);
  }
  return out;
}

// Joins equal-shaped tensors along a new dim: k tensors [...] -> [..., k, ...] (the new dim at `dim`).
template <class T>
Tensor<T> stack(const std::vector<Tensor<T>>& xs, int64_t dim = 0) {
  check(!xs.empty(), "stack: no tensors given");
  const int64_t d = norm_dim(dim, xs[0].dim() + 1, "stack");
  std::vector<Tensor<T>> parts;
  for (size_t i = 0; i < xs.size(); ++i) {
    check(xs[i].shape() == xs[0].shape(), "stack: tensor ", i, " of shape ", xs[i].shape(), " does not match shape ",
          xs[0].shape());
    parts.push_back(xs[i].unsqueeze(d));
  }
  return concat(parts, d);
}

// Views of consecutive pieces along dim: x: [..., Σ sizes, ...] -> [..., sizes[i], ...] for each i.
template <class T>
std::vector<Tensor<T>> split(const Tensor<T>& x, const std::vector<int64_t>& sizes, int64_t dim = 0) {
  const int64_t d = norm_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (auto s : sizes) {
    check(s >= 0, "split: negative size in ", sizes, " for shape ", x.shape());
    total += s;
  }
  check(total == x.size(d), "split: sizes ", sizes, " add up to ", total, ", not to the size ", x.size(d), " of dim ",
        dim, " of shape ", x.shape());
  std::vector<Tensor<T>> parts;
  int64_t start = 0;
  for (auto s : sizes) {
    parts.push_back(x.narrow(d, start, s));
    start += s;
  }
  return parts;
}

// Views of pieces of `size` along dim (the last one shorter when size does not divide): x: [..., n, ...].
template <class T>
std::vector<Tensor<T>> split(const Tensor<T>& x, int64_t size, int64_t dim = 0) {
  const int64_t d = norm_dim(dim, x.dim(), "split");
  check(size > 0, "split: piece size ", size, " is not positive (shape ", x.shape(), ")");
  const int64_t n = x.size(d);
  std::vector<int64_t> sizes;
  for (int64_t start = 0; start < n; start += size) sizes.push_back(std::min(size, n - start));
  if (sizes.empty()) sizes.push_back(0);
  return split(x, sizes, d);
}

// At most n views of equal size ceil(size/n) along dim (the last one shorter): x: [..., size, ...].
template <class T>
std::vector<Tensor<T>> chunk(const Tensor<T>& x, int64_t n, int64_t dim = 0) {
  const int64_t d = norm_dim(dim, x.dim(), "chunk");
  check(n > 0, "chunk: number of chunks ", n, " is not positive (shape ", x.shape(), ")");
  return split(x, std::max<int64_t>(1, (x.size(d) + n - 1) / n), d);
}

}  // namespace unigen
