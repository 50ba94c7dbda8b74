#pragma once
// The loop every strided CPU kernel is built on: visit all indices of a shape, tracking one offset per operand.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace unigen::cpu {

// This thread's place in the OpenMP team it runs in: its number t of n threads ({0, 1} without OpenMP).
struct TeamPlace {
  int64_t t, n;
};
inline TeamPlace team_place() {
#ifdef _OPENMP
  return {omp_get_thread_num(), omp_get_num_threads()};
#else
  return {0, 1};
#endif
}

namespace strided_detail {

// Calls f(offsets) for the indices of rows [r0, r1) of `shape` (a row: all indices that share every dim
// but the last), in row-major order; offsets[k] = base[k] + Σ idx[d]·strides[k][d]. nd ≥ 1, no dim 0.
template <size_t N, class F>
void rows(const std::vector<int64_t>& shape, const std::array<const int64_t*, N>& strides,
          std::array<int64_t, N> base, int64_t r0, int64_t r1, F& f) {
  const size_t nd = shape.size();
  const int64_t inner = shape[nd - 1];
  std::array<int64_t, N> step;
  bool unit = true;
  for (size_t k = 0; k < N; ++k) step[k] = strides[k][nd - 1], unit = unit && step[k] == 1;
  // the multi-index of row r0 (dims 0 .. nd-2), and the offsets there
  std::vector<int64_t> idx(nd, 0);
  for (int64_t r = r0, d = int64_t(nd) - 2; d >= 0; --d) {
    idx[size_t(d)] = r % shape[size_t(d)];
    r /= shape[size_t(d)];
    for (size_t k = 0; k < N; ++k) base[k] += idx[size_t(d)] * strides[k][d];
  }
  for (int64_t r = r0; r < r1; ++r) {
    std::array<int64_t, N> o;
    if (unit) {  // every operand contiguous along the last dim: a loop the compiler can vectorise
      for (int64_t i = 0; i < inner; ++i) {
        for (size_t k = 0; k < N; ++k) o[k] = base[k] + i;
        f(o);
      }
    } else {
      o = base;
      for (int64_t i = 0; i < inner; ++i) {
        f(o);
        for (size_t k = 0; k < N; ++k) o[k] += step[k];
      }
    }
    for (size_t d = nd - 1; d-- > 0;) {  // the next row: an odometer over dims nd-2 .. 0
      ++idx[d];
      for (size_t k = 0; k < N; ++k) base[k] += strides[k][d];
      if (idx[d] < shape[d]) break;
      for (size_t k = 0; k < N; ++k) base[k] -= strides[k][d] * shape[d];
      idx[d] = 0;
    }
  }
}

}  // namespace strided_detail

// Calls f(offsets) for every index of `shape` in row-major order, where offsets[k] = base[k] + Σ idx[d]·strides[k][d].
// shape: [d0, ..., dn-1]; strides[k] points to n strides of operand k (0 on broadcast dims).
template <size_t N, class F>
void strided_for_each(const std::vector<int64_t>& shape, const std::array<const int64_t*, N>& strides,
                      std::array<int64_t, N> base, F&& f) {
  int64_t count = 1;
  for (auto d : shape) count *= d;
  if (count == 0) return;
  if (shape.empty()) return f(base);
  strided_detail::rows<N>(shape, strides, base, 0, count / shape.back(), f);
}

// strided_for_each with the rows shared among OpenMP threads when there are at least `grain` elements
// and the caller is not already inside a parallel region. Order across rows is then unspecified, so f
// must be safe to call concurrently for distinct indices (e.g. each call writes only its own element).
template <size_t N, class F>
void strided_for_each_parallel(const std::vector<int64_t>& shape, const std::array<const int64_t*, N>& strides,
                               std::array<int64_t, N> base, F&& f, [[maybe_unused]] int64_t grain = int64_t(1) << 16) {
#ifdef _OPENMP
  int64_t count = 1;
  for (auto d : shape) count *= d;
  const int64_t nrows = shape.empty() || count == 0 ? 0 : count / shape.back();
  if (count >= grain && nrows > 1 && omp_get_level() == 0 && omp_get_max_threads() > 1) {
#pragma omp parallel
    {
      const auto [t, nt] = team_place();
      strided_detail::rows<N>(shape, strides, base, nrows * t / nt, nrows * (t + 1) / nt, f);
    }
    return;
  }
#endif
  strided_for_each<N>(shape, strides, base, f);
}

}  // namespace unigen::cpu
