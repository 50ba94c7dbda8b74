#pragma once
// Generator: a seeded random source (xoshiro256**) giving the same numbers on every platform.
#include <cmath>
#include <cstdint>

namespace unigen {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) { manual_seed(seed); }

  void manual_seed(uint64_t seed) {
    uint64_t z = seed;
    for (auto& w : s_) w = splitmix(z);
    has_spare_ = false;
  }
  uint64_t next_u64() {
    uint64_t r = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
    s_[2] ^= s_[0]; s_[3] ^= s_[1]; s_[1] ^= s_[2]; s_[0] ^= s_[3];
    s_[2] ^= t; s_[3] = rotl(s_[3], 45);
    return r;
  }
  // Output i of the SplitMix64 stream that starts at `key`: random bits addressed by index, so that
  // many threads can fill one buffer from a single draw (key) and get the same bits on any thread count.
  static uint64_t stream(uint64_t key, uint64_t i) {
    uint64_t z = key + i * 0x9e3779b97f4a7c15ull;
    return splitmix(z);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(next_u64() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n) { return n ? next_u64() % n : 0; }
  // Standard normal by the Box-Muller transform.
  double normal() {
    if (has_spare_) { has_spare_ = false; return spare_; }
    double u1 = uniform(), u2 = uniform();
    double r = std::sqrt(-2.0 * std::log(1.0 - u1));
    spare_ = r * std::sin(2.0 * M_PI * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * M_PI * u2);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix(uint64_t& z) {
    uint64_t r = (z += 0x9e3779b97f4a7c15ull);
    r = (r ^ (r >> 30)) * 0xbf58476d1ce4e5b9ull;
    r = (r ^ (r >> 27)) * 0x94d049bb133111ebull;
    return r ^ (r >> 31);
  }
  uint64_t s_[4];
  double spare_ = 0;
  bool has_spare_ = false;
};

// The process-wide generator used when an op is not given one (seed it with default_generator().manual_seed).
inline Generator& default_generator() {
  static Generator g;
  return g;
}

}  // namespace unigen
