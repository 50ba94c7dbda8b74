#pragma once
// Shapes and strides: element counts, contiguous strides, NumPy broadcasting, dim normalisation.
#include <cstdint>
#include <vector>

#include "unigen/core/error.hpp"

namespace unigen {

using Shape = std::vector<int64_t>;

inline int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

// Row-major strides of a dense tensor of shape s.
inline Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

// Maps a possibly negative dim into [0, ndim); names the op when it is out of range.
inline int64_t norm_dim(int64_t d, int64_t ndim, const char* op) {
  int64_t r = d < 0 ? d + ndim : d;
  check(r >= 0 && r < ndim, op, ": dim ", d, " out of range for a tensor with ", ndim, " dims");
  return r;
}

// NumPy broadcasting of two shapes; throws naming the op and both shapes when they don't fit.
inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape r(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    check(da == db || da == 1 || db == 1, op, ": shapes ", a, " and ", b, " cannot be broadcast");
    r[i] = da == 1 ? db : da;
  }
  return r;
}

// Strides that read a tensor of shape `s`, strides `st` as if it had the broadcast shape `to` (0 on broadcast dims).
inline Shape broadcast_strides(const Shape& s, const Shape& st, const Shape& to) {
  Shape r(to.size(), 0);
  size_t off = to.size() - s.size();
  for (size_t i = 0; i < s.size(); ++i) r[off + i] = s[i] == 1 ? 0 : st[i];
  return r;
}

// A pair of sizes for the two spatial dims (kernel, stride, padding); one int means both.
struct Size2 {
  int64_t h = 0, w = 0;
  Size2() = default;
  Size2(int64_t v) : h(v), w(v) {}
  Size2(int64_t h_, int64_t w_) : h(h_), w(w_) {}
  Shape shape() const { return {h, w}; }
};

}  // namespace unigen
