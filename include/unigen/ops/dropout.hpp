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
  // One draw from g per call keys a SplitMix64 stream; its 64-bit output j decides elements 2j and 2j+1
  // (dropped when their 32-bit half is below p·2³²), so threads share the work and the mask is the same
  // on any thread count.
  const auto cut = static_cast<uint64_t>(std::ldexp(p, 32));
  const uint64_t key = g.next_u64();
  T* m = mask.data();
  const int64_t n = mask.numel(), pairs = n / 2;
  const auto pick = [=](uint64_t bits32) { return bits32 < cut ? zero : keep; };
  // whole pairs in a branch-free loop, which the compiler vectorises (with the branch for an odd last
  // element inside it, the loop ran 4.5x as long), then that element
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
  for (int64_t j = 0; j < pairs; ++j) {
    const uint64_t r = Generator::stream(key, uint64_t(j));
    m[2 * j] = pick(r & 0xffffffffu);
    m[2 * j + 1] = pick(r >> 32);
  }
  if (n % 2) m[n - 1] = pick(Generator::stream(key, uint64_t(pairs)) & 0xffffffffu);
  return mul(x, mask);
}

}  // namespace unigen
