#pragma once
// The loop every strided CPU kernel is built on: visit all indices of a shape, tracking one offset per operand.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace unigen::cpu {

// Calls f(offsets) for every index of `shape` in row-major order, where offsets[k] = base[k] + Σ idx[d]·strides[k][d].
// shape: [d0, ..., dn-1]; strides[k] points to n strides of operand k (0 on broadcast dims).
template <size_t N, class F>
void strided_for_each(const std::vector<int64_t>& shape, const std::array<const int64_t*, N>& strides,
                      std::array<int64_t, N> base, F&& f) {
  const size_t nd = shape.size();
  for (auto d : shape)
    if (d == 0) return;
  if (nd == 0) {
    f(base);
    return;
  }
  const int64_t inner = shape[nd - 1];
  std::array<int64_t, N> step;
  for (size_t k = 0; k < N; ++k) step[k] = strides[k][nd - 1];
  std::vector<int64_t> idx(nd, 0);
  for (;;) {
    std::array<int64_t, N> o = base;
    for (int64_t i = 0; i < inner; ++i) {
      f(o);
      for (size_t k = 0; k < N; ++k) o[k] += step[k];
    }
    size_t d = nd - 1;
    for (;;) {
      if (d == 0) return;
      --d;
      ++idx[d];
      for (size_t k = 0; k < N; ++k) base[k] += strides[k][d];
      if (idx[d] < shape[d]) break;
      for (size_t k = 0; k < N; ++k) base[k] -= strides[k][d] * shape[d];
      idx[d] = 0;
    }
  }
}

}  // namespace unigen::cpu
