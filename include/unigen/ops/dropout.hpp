#pragma once
// Inverted dropout with a seeded generator.
#include "unigen/ops/elementwise.hpp"

namespace unigen {

// Zeroes each element with probability p and scales the rest by 1/(1−p); identity when !training or p == 0.
template <Floating T>
Tensor<T> dropout(const Tensor<T>& x, double p, bool training = true, Generator& g = default_generator()) {
  check(p >= 0 && p < 1, "dropout: probability ", p, " not in [0, 1)");
  if (!training || p == 0) return x;
  Tensor<T> mask = Tensor<T>::empty(x.shape());
  const double keep = 1.0 / (1.0 - p);
  for (int64_t i = 0; i < mask.numel(); ++i) mask.data()[i] = T(g.uniform() < p ? 0.0 : keep);
  return mul(x, mask);
}

}  // namespace unigen
