#pragma once
// Inverted dropout with a seeded generator.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "unigen/backend/cpu/vec_math.hpp"
#include "unigen/ops/elementwise.hpp"

namespace unigen {

// Zeroes each element with probability p and scales the rest by 1/(1−p); identity when !training or p == 0.
template <Floating T>
Tensor<T> dropout(const Tensor<T>& x, double p, bool training = true, Generator& g = default_generator()) {
  check(p >= 0 && p < 1, "dropout: probability ", p, " not in [0, 1)");
  if (!training || p == 0) return x;
  Tensor<T> mask = Tensor<T>::empty(x.shape());
  const T keep = T(1.0 / (1.0 - p));
  // One draw from g per call keys a SplitMix64 stream; its 64-bit output j decides elements 2j and 2j+1
  // (dropped when their 32-bit half is below p·2³²), so threads share the work and the mask is the same
  // on any thread count.
  const auto cut = static_cast<uint64_t>(std::ldexp(p, 32));
  const uint64_t key = g.next_u64();
  T* m = mask.data();
  const int64_t n = mask.numel(), pairs = n / 2;
  // whole pairs in chunks (cpu::dropout_pairs, vectorised), then an odd last element: the first of a pair
  constexpr int64_t chunk = 2048;
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
  for (int64_t j = 0; j < pairs; j += chunk)
    cpu::dropout_pairs(m + 2 * j, j, std::min(chunk, pairs - j), key, cut, keep);
  if (n % 2) {
    T last[2];
    cpu::dropout_pairs(last, pairs, 1, key, cut, keep);
    m[n - 1] = last[0];
  }
  return mul(x, mask);
}

}  // namespace unigen
