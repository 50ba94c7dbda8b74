#pragma once
// Indexing ops: index_select, gather, scatter_add, one_hot and embedding (index_select of rows).
#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "unigen/ops/map.hpp"

namespace unigen {

namespace detail {

// Throws unless 0 <= i < n; names the op, the index, the size and the shape it indexes.
inline void check_index(const char* op, int64_t i, int64_t n, int64_t dim, const Shape& shape) {
  check(i >= 0 && i < n, op, ": index ", i, " out of range for size ", n, " of dim ", dim, " of shape ", shape);
}

// Sizes of the dims before dim, at dim and after it: shape viewed as [outer, n, inner].
inline std::array<int64_t, 3> split_at(const Shape& shape, int64_t dim) {
  std::array<int64_t, 3> r{1, shape[size_t(dim)], 1};
  for (size_t k = 0; k < shape.size(); ++k)
    if (int64_t(k) < dim) r[0] *= shape[k];
    else if (int64_t(k) > dim) r[2] *= shape[k];
  return r;
}

// Forward kernel of index_select and embedding: x: [outer, n, inner], idx: [k] -> [outer, k, inner].
template <class T>
Tensor<T> index_select_kernel(const char* op, const Tensor<T>& x, int64_t dim, const std::vector<int64_t>& idx) {
  auto [outer, n, inner] = split_at(x.shape(), dim);
  for (auto i : idx) check_index(op, i, n, dim, x.shape());
  Shape shape = x.shape();
  shape[size_t(dim)] = int64_t(idx.size());
  Tensor<T> out = Tensor<T>::empty(shape);
  Tensor<T> xc = x.detach().contiguous();
  const T* src = xc.data();
  T* dst = out.data();
  const int64_t k = int64_t(idx.size()), rows = outer * k;
#pragma omp parallel for if (rows * inner > (1 << 15)) schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    std::copy_n(src + ((r / k) * n + idx[size_t(r % k)]) * inner, inner, dst + r * inner);
  return out;
}

// Backward kernel of index_select: g: [outer, k, inner] -> [outer, n, inner], row j of g added to row
// idx[j]; rows whose index is `skip` add nothing.
template <class T>
Tensor<T> index_add_kernel(const Tensor<T>& g, const Shape& x_shape, int64_t dim, const std::vector<int64_t>& idx,
                           int64_t skip) {
  auto [outer, n, inner] = split_at(x_shape, dim);
  const int64_t k = int64_t(idx.size());
  std::vector<acc_t<T>> acc(size_t(outer * n * inner), acc_t<T>(0));
  Tensor<T> gc = g.contiguous();
  const T* gp = gc.data();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < k; ++j) {
      if (idx[size_t(j)] == skip) continue;
      acc_t<T>* a = acc.data() + (o * n + idx[size_t(j)]) * inner;
      const T* row = gp + (o * k + j) * inner;
      for (int64_t c = 0; c < inner; ++c) a[c] += acc_t<T>(row[c]);
    }
  Tensor<T> out = Tensor<T>::empty(x_shape);
  std::copy(acc.begin(), acc.end(), out.data());
  return out;
}

// index_select with its backward; rows picked by index `skip` get no gradient (embedding's padding_idx).
template <class T>
Tensor<T> index_select_op(const char* op, const Tensor<T>& x, int64_t dim, std::vector<int64_t> idx, int64_t skip) {
  Tensor<T> out = index_select_kernel(op, x, dim, idx);
  if constexpr (Floating<T>) {
    autograd::record(op, out, [x, dim, idx = std::move(idx), skip](const Tensor<T>& g) {
      autograd::accumulate(x, index_add_kernel(g, x.shape(), dim, idx, skip));
    }, x);
  }
  return out;
}

// Checks gather/scatter index geometry: idx has x's rank and fits inside `bound` outside dim.
inline void check_gather_shapes(const char* op, const Shape& x, const Shape& idx, const Shape& bound, int64_t dim) {
  check(idx.size() == x.size(), op, ": index of shape ", idx, " does not have the rank of input shape ", x);
  for (size_t k = 0; k < idx.size(); ++k)
    check(idx[k] <= bound[k] || int64_t(k) == dim, op, ": index of shape ", idx, " is larger than shape ", bound,
          " in dim ", k);
}

// Forward kernel of gather: out[p] = x[p with its dim entry replaced by idx[p]]; idx's shape -> out's shape.
template <class T>
Tensor<T> gather_kernel(const char* op, const Tensor<T>& x, int64_t dim, const Tensor<int64_t>& idx) {
  Tensor<T> out = Tensor<T>::empty(idx.shape());
  Shape ost = contiguous_strides(idx.shape()), xst = x.strides();
  const int64_t n = x.size(dim), step = xst[size_t(dim)];
  xst[size_t(dim)] = 0;
  const T* xp = x.impl().storage.get();
  const int64_t* ip = idx.impl().storage.get();
  T* o = out.data();
  cpu::strided_for_each<3>(idx.shape(), {ost.data(), xst.data(), idx.strides().data()}, {0, x.offset(), idx.offset()},
                           [&](const std::array<int64_t, 3>& off) {
                             const int64_t i = ip[off[2]];
                             check_index(op, i, n, dim, x.shape());
                             o[off[0]] = xp[off[1] + i * step];
                           });
  return out;
}

// Kernel of scatter_add and gather's backward: acc (dense, of `shape`) at [p with dim entry idx[p]] += src[p]
// for every p of idx's shape.
template <class T>
void scatter_add_kernel(const char* op, std::vector<acc_t<T>>& acc, const Shape& shape, int64_t dim,
                        const Tensor<int64_t>& idx, const Tensor<T>& src) {
  Shape ast = contiguous_strides(shape);
  const int64_t n = shape[size_t(dim)], step = ast[size_t(dim)];
  ast[size_t(dim)] = 0;
  const T* sp = src.impl().storage.get();
  const int64_t* ip = idx.impl().storage.get();
  cpu::strided_for_each<3>(idx.shape(), {ast.data(), src.strides().data(), idx.strides().data()},
                           {0, src.offset(), idx.offset()}, [&](const std::array<int64_t, 3>& off) {
                             const int64_t i = ip[off[2]];
                             check_index(op, i, n, dim, shape);
                             acc[size_t(off[0] + i * step)] += acc_t<T>(sp[off[1]]);
                           });
}

// A dense tensor of `shape` from an accumulation buffer.
template <class T>
Tensor<T> from_acc(const std::vector<acc_t<T>>& acc, const Shape& shape) {
  Tensor<T> out = Tensor<T>::empty(shape);
  std::copy(acc.begin(), acc.end(), out.data());
  return out;
}

}  // namespace detail

// Picks entries along dim: x: [..., n, ...], idx: [k] with values in [0, n) -> [..., k, ...].
template <class T>
Tensor<T> index_select(const Tensor<T>& x, int64_t dim, const Tensor<int64_t>& idx) {
  detail::require_cpu("index_select", x, idx);
  const int64_t d = norm_dim(dim, x.dim(), "index_select");
  check(idx.dim() == 1, "index_select: index of shape ", idx.shape(), " is not 1-D (input shape ", x.shape(), ")");
  return detail::index_select_op("index_select", x, d, idx.to_vector(), -1);
}

// PyTorch gather: out[i][j][k] = x[i][idx[i][j][k]][k] for dim 1; x: [...], idx: same rank -> idx's shape.
template <class T>
Tensor<T> gather(const Tensor<T>& x, int64_t dim, const Tensor<int64_t>& idx) {
  detail::require_cpu("gather", x, idx);
  const int64_t d = norm_dim(dim, x.dim(), "gather");
  detail::check_gather_shapes("gather", x.shape(), idx.shape(), x.shape(), d);
  Tensor<T> out = detail::gather_kernel("gather", x, d, idx);
  if constexpr (Floating<T>) {
    autograd::record("gather", out, [x, d, idx](const Tensor<T>& g) {
      std::vector<acc_t<T>> acc(size_t(x.numel()), acc_t<T>(0));
      detail::scatter_add_kernel("gather", acc, x.shape(), d, idx, g);
      autograd::accumulate(x, detail::from_acc<T>(acc, x.shape()));
    }, x);
  }
  return out;
}

// x plus src added at out[p with dim entry idx[p]] for every p of idx (PyTorch scatter_add, not in place):
// x: [...], idx: same rank, no larger than src, and no larger than x outside dim -> x's shape.
template <class T>
Tensor<T> scatter_add(const Tensor<T>& x, int64_t dim, const Tensor<int64_t>& idx, const Tensor<T>& src) {
  detail::require_cpu("scatter_add", x, idx, src);
  const int64_t d = norm_dim(dim, x.dim(), "scatter_add");
  check(src.dim() == x.dim(), "scatter_add: source of shape ", src.shape(), " does not have the rank of input shape ",
        x.shape());
  detail::check_gather_shapes("scatter_add", x.shape(), idx.shape(), x.shape(), d);
  detail::check_gather_shapes("scatter_add", x.shape(), idx.shape(), src.shape(), -1);
  std::vector<acc_t<T>> acc;
  acc.reserve(size_t(x.numel()));
  for (const T& v : x.to_vector()) acc.push_back(acc_t<T>(v));
  detail::scatter_add_kernel("scatter_add", acc, x.shape(), d, idx, src);
  Tensor<T> out = detail::from_acc<T>(acc, x.shape());
  if constexpr (Floating<T>) {
    autograd::record("scatter_add", out, [x, d, idx, src](const Tensor<T>& g) {
      autograd::accumulate(x, g);
      if (!src.requires_grad()) return;
      Tensor<T> gs = detail::gather_kernel("scatter_add", g, d, idx);
      if (gs.shape() != src.shape()) {
        Tensor<T> full = Tensor<T>::zeros(src.shape()), part = full;
        for (int64_t k = 0; k < src.dim(); ++k) part = part.narrow(k, 0, idx.size(k));
        part.copy_(gs);
        gs = full;
      }
      autograd::accumulate(src, std::move(gs));
    }, x, src);
  }
  return out;
}

// Rows of the identity: idx: [...] with values in [0, num_classes) -> [..., num_classes] of 0 and 1. No gradient.
template <Element T>
Tensor<T> one_hot(const Tensor<int64_t>& idx, int64_t num_classes) {
  detail::require_cpu("one_hot", idx);
  check(num_classes > 0, "one_hot: num_classes ", num_classes, " is not positive");
  Shape shape = idx.shape();
  shape.push_back(num_classes);
  Tensor<T> out = Tensor<T>::zeros(shape);
  std::vector<int64_t> v = idx.to_vector();
  for (size_t r = 0; r < v.size(); ++r) {
    check(v[r] >= 0 && v[r] < num_classes, "one_hot: index ", v[r], " out of range for num_classes ", num_classes,
          " (index shape ", idx.shape(), ")");
    out.data()[int64_t(r) * num_classes + v[r]] = T(1);
  }
  return out;
}

// Looks up rows of weight: weight: [V, D], ids: [...] with values in [0, V) -> [..., D]. The gradient
// adds each output row into weight's row ids[...]; row padding_idx (-1: none) gets no gradient.
template <class T>
Tensor<T> embedding(const Tensor<T>& weight, const Tensor<int64_t>& ids, int64_t padding_idx = -1) {
  detail::require_cpu("embedding", weight, ids);
  check(weight.dim() == 2, "embedding: weight of shape ", weight.shape(), " is not [V, D]");
  check(padding_idx >= -1 && padding_idx < weight.size(0), "embedding: padding_idx ", padding_idx,
        " out of range for weight of shape ", weight.shape());
  Shape shape = ids.shape();
  shape.push_back(weight.size(1));
  return detail::index_select_op("embedding", weight, 0, ids.to_vector(), padding_idx).reshape(shape);
}

}  // namespace unigen
