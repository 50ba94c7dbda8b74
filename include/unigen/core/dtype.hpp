#pragma once
// Element types: f32, f64 and the two 16-bit storage types bf16 and f16 (computed in f32).
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace unigen {

namespace detail {
inline uint32_t float_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float bits_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
}  // namespace detail

// bfloat16: the top 16 bits of an IEEE float, rounded to nearest even.
struct bf16 {
  uint16_t bits = 0;
  bf16() = default;
  template <class A, class = std::enable_if_t<std::is_arithmetic_v<A>>>
  bf16(A v) : bits(from_float(static_cast<float>(v))) {}
  operator float() const { return detail::bits_float(uint32_t(bits) << 16); }
  static uint16_t from_float(float f) {
    uint32_t u = detail::float_bits(f);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) return uint16_t((u >> 16) | 0x40);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return uint16_t(u >> 16);
  }
};

// IEEE binary16, rounded to nearest even; overflow gives inf, tiny values become subnormal or zero.
struct f16 {
  uint16_t bits = 0;
  f16() = default;
  template <class A, class = std::enable_if_t<std::is_arithmetic_v<A>>>
  f16(A v) : bits(from_float(static_cast<float>(v))) {}
  operator float() const { return to_float(bits); }

  static uint16_t from_float(float f) {
    uint32_t u = detail::float_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t au = u & 0x7fffffffu;
    if (au >= 0x7f800000u) return uint16_t(sign | 0x7c00u | (au > 0x7f800000u ? 0x200u : 0u));
    if (au >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to >= 65520: inf
    if (au < 0x38800000u) {                                   // below 2^-14: subnormal half
      // Adding 0.5 makes the FPU round the mantissa into the low bits (round to nearest even).
      float r = detail::bits_float(au) + 0.5f;
      return uint16_t(sign | (detail::float_bits(r) - 0x3f000000u));
    }
    uint32_t mant_odd = (au >> 13) & 1u;
    au += 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round
    return uint16_t(sign | (au >> 13));
  }
  static float to_float(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0x1f) return detail::bits_float(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {  // zero or subnormal: value = mant * 2^-24
      float v = float(mant) * 5.9604644775390625e-8f;
      return sign ? -v : v;
    }
    return detail::bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
  }
};

enum class DType { f32, f64, bf16, f16, i64, b8 };

template <class T> struct dtype_traits;
template <> struct dtype_traits<float> { static constexpr DType value = DType::f32; static constexpr const char* name = "f32"; };
template <> struct dtype_traits<double> { static constexpr DType value = DType::f64; static constexpr const char* name = "f64"; };
template <> struct dtype_traits<bf16> { static constexpr DType value = DType::bf16; static constexpr const char* name = "bf16"; };
template <> struct dtype_traits<f16> { static constexpr DType value = DType::f16; static constexpr const char* name = "f16"; };
template <> struct dtype_traits<int64_t> { static constexpr DType value = DType::i64; static constexpr const char* name = "i64"; };
template <> struct dtype_traits<bool> { static constexpr DType value = DType::b8; static constexpr const char* name = "bool"; };

// Floating element types: the ones that carry gradients.
template <class T>
concept Floating = std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, bf16> || std::is_same_v<T, f16>;
// Every element type a Tensor can hold: the floating ones, int64 (indices) and bool (masks).
template <class T>
concept Element = Floating<T> || std::is_same_v<T, int64_t> || std::is_same_v<T, bool>;

// The type arithmetic is done in: f32 for the 16-bit types, the type itself otherwise.
template <class T>
using acc_t = std::conditional_t<std::is_same_v<T, bf16> || std::is_same_v<T, f16>, float, T>;

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
    case DType::i64: return "i64";
    case DType::b8: return "bool";
  }
  return "?";
}

}  // namespace unigen
