#pragma once
// Inverted dropout with a seeded generator.
#include <cmath>
#include <cstdint>

#include "unigen/ops/elementwise.hpp"

namespace unigen {

// Zeroes each element with probability p and scales the rest by 1/(1−p); identity when !training or p == 0.
template <Floating T>
Tensor<T> dropout(const Tensor<T>& x, double p, bool training = true, Generator& g = default_generator()) {
  check(p >= 0 && p < 1, "dropout: probability ", p, " not in [0, 1)");
  if (!training || p == 0) return x;
  Tensor<T> mask = Tensor<T>::empty(x.shape());
  const T keep = T(1.0 / (1.0 - p)), zero = T(0.0);
  // Two draws per 64 random bits: element i is dropped when its 32-bit draw is below p·2³².
  const auto cut = static_cast<uint64_t>(std::ldexp(p, 32));
  T* m = mask.data();
  const int64_t n = mask.numel();
  for (int64_t i = 0; i < n; i += 2) {
    const uint64_t r = g.next_u64();
    m[i] = (r & 0xffffffffu) < cut ? zero : keep;
    if (i + 1 < n) m[i + 1] = (r >> 32) < cut ? zero : keep;
  }
  return mul(x, mask);
}

}  // namespace unigen
