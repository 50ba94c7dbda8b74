#pragma once
// Vectorised float math for the CPU kernels: exp (and from it GELU) with AVX-512, AVX2 and scalar
// paths, picked at compile time by the target flags (the project builds with -march=native), and the
// row maps (map_row, which can stream large outputs past the caches) and row reductions that softmax,
// layer_norm, cross-entropy, GELU and attention share. Every path evaluates the same polynomial with
// the same fused multiply-adds, so a vector lane and the scalar tail give bit-identical results.
// Other element types (double, bf16, f16) take plain scalar loops in their compute type.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "unigen/core/dtype.hpp"

#if defined(__SSE__)
#include <immintrin.h>
#endif

namespace unigen::cpu {

namespace expf_c {
// exp(x) rounds to 0 below -103.97 and overflows above 88.72; clamping to [lo, hi] keeps 2^n in range
// of the two-step scaling below and still gives inf above. Below lo (-inf included: every masked score
// of a softmax) the result is set to 0 without computing it: computed, it underflows, and on Intel
// cores each underflowing lane costs a microcode assist (a causal attention forward ran 2× as long).
constexpr float lo = -104.0f, hi = 89.0f;
constexpr float log2e = 1.44269504088896341f;
constexpr float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;  // ln 2 = hi + lo, hi exact in 9 bits
// Cephes expf: exp(r) ≈ 1 + r + r²·P(r) on |r| <= ln2/2, about 1 ulp
constexpr float p0 = 1.9875691500e-4f, p1 = 1.3981999507e-3f, p2 = 8.3334519073e-3f, p3 = 4.1665795894e-2f,
                p4 = 1.6666665459e-1f, p5 = 5.0000001201e-1f;
}  // namespace expf_c

// 2^k as a float for k in [-126, 127].
inline float pow2i(int32_t k) {
  uint32_t bits = uint32_t(k + 127) << 23;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// exp(x) for one float, a few ulp from std::exp; -inf -> 0, +inf -> inf, NaN -> NaN.
inline float exp_scalar(float x) {
  using namespace expf_c;
  if (std::isnan(x)) return x;
  if (x < lo) return 0.0f;
  x = std::min(x, hi);
  const float n = std::nearbyint(x * log2e);
  float r = std::fma(n, -ln2_hi, x);
  r = std::fma(n, -ln2_lo, r);
  float y = std::fma(std::fma(std::fma(std::fma(std::fma(p0, r, p1), r, p2), r, p3), r, p4), r, p5);
  y = std::fma(y, r * r, r) + 1.0f;
  // 2^n in two factors so that results down in the subnormal range are still produced (n >= -150)
  const int32_t k = int32_t(n), k1 = k >> 1;
  return y * pow2i(k1) * pow2i(k - k1);
}

#if defined(__AVX512F__)
// GCC 12 implements the unmasked forms of these AVX-512 intrinsics with _mm512_undefined_ps() as the
// pass-through, which -Wmaybe-uninitialized flags once inlined; the zero-masked forms with every lane
// selected compile to the same instructions without it.
constexpr __mmask16 all16 = 0xFFFF;
inline __m512 max16(__m512 a, __m512 b) { return _mm512_maskz_max_ps(all16, a, b); }
inline __m512 min16(__m512 a, __m512 b) { return _mm512_maskz_min_ps(all16, a, b); }
// exp of 16 floats (same method as exp_scalar; scalef does the 2^n scaling, subnormals and overflow included).
inline __m512 exp16(__m512 x) {
  using namespace expf_c;
  // max/min return their second operand when either is NaN, so a NaN x passes through
  const __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(lo), _CMP_NLT_UQ);  // x >= lo or NaN
  x = min16(_mm512_set1_ps(hi), max16(_mm512_set1_ps(lo), x));
  const __m512 n =
      _mm512_maskz_roundscale_ps(all16, _mm512_mul_ps(x, _mm512_set1_ps(log2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-ln2_hi), x);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(-ln2_lo), r);
  __m512 y = _mm512_fmadd_ps(_mm512_set1_ps(p0), r, _mm512_set1_ps(p1));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(p2));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(p3));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(p4));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(p5));
  y = _mm512_add_ps(_mm512_fmadd_ps(y, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
  return _mm512_maskz_scalef_ps(keep, y, n);
}
#endif

#if defined(__AVX2__) && defined(__FMA__)
// exp of 8 floats (same method as exp_scalar, 2^n built in the exponent bits in two factors).
inline __m256 exp8(__m256 x) {
  using namespace expf_c;
  const __m256 keep = _mm256_cmp_ps(x, _mm256_set1_ps(lo), _CMP_NLT_UQ);  // x >= lo or NaN: all ones
  x = _mm256_and_ps(keep, _mm256_min_ps(_mm256_set1_ps(hi), _mm256_max_ps(_mm256_set1_ps(lo), x)));  // else 0
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(log2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-ln2_hi), x);
  r = _mm256_fmadd_ps(n, _mm256_set1_ps(-ln2_lo), r);
  __m256 y = _mm256_fmadd_ps(_mm256_set1_ps(p0), r, _mm256_set1_ps(p1));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(p2));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(p3));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(p4));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(p5));
  y = _mm256_add_ps(_mm256_fmadd_ps(y, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  const __m256i k = _mm256_cvtps_epi32(n), k1 = _mm256_srai_epi32(k, 1), k2 = _mm256_sub_epi32(k, k1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k1, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k2, bias), 23));
  return _mm256_and_ps(keep, _mm256_mul_ps(_mm256_mul_ps(y, s1), s2));
}
#endif

// exp and sqrt overloaded on float, __m256 and __m512, for the width-generic functions below (which use
// GCC's vector-extension operators, so one definition serves every width).
inline float vexp(float x) { return exp_scalar(x); }
inline float vsqrt(float x) { return std::sqrt(x); }
inline double vsqrt(double x) { return std::sqrt(x); }
#if defined(__AVX512F__)
inline __m512 vexp(__m512 x) { return exp16(x); }
inline __m512 vsqrt(__m512 x) { return _mm512_maskz_sqrt_ps(all16, x); }
#endif
#if defined(__AVX2__) && defined(__FMA__)
inline __m256 vexp(__m256 x) { return exp8(x); }
inline __m256 vsqrt(__m256 x) { return _mm256_sqrt_ps(x); }
#endif

// The sum (hsum) and the max (hmax) of the lanes of a vector register, taken as a tree. Defined on every
// x86 build, each with its own target, so that the GEMM's few-rows kernels (gemm_kernels.hpp, compiled
// per instruction set whatever the -m flags) use them too.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2"))) inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
__attribute__((target("avx2"))) inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}
// The halves by zero-masked extracts: see all16.
__attribute__((target("avx512f"))) inline __m256 lo_half(__m512 v) {
  return _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xF, _mm512_castps_pd(v), 0));
}
__attribute__((target("avx512f"))) inline __m256 hi_half(__m512 v) {
  return _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xF, _mm512_castps_pd(v), 1));
}
__attribute__((target("avx512f"))) inline float hsum(__m512 v) { return hsum(_mm256_add_ps(lo_half(v), hi_half(v))); }
__attribute__((target("avx512f"))) inline float hmax(__m512 v) { return hmax(_mm256_max_ps(lo_half(v), hi_half(v))); }
#endif

// Φ(x), the standard normal CDF, as 0.5·erfc(−x/√2) with Numerical Recipes' erfc (relative error about
// 1.2e-7 over the whole line, so the left tail keeps its relative accuracy too). V: float, __m256 or __m512.
// Always inlined (with GELU below): GCC 12 left it a call per vector; inlined into GELU's row loop, in
// one process alternating (2026-11-29, 16 Ki and 2592×1024 floats, two runs) 1.05-1.12× as fast
// forward and 1.07-1.20× backward, same values.
template <class V>
[[gnu::always_inline]] inline V normal_cdf(V x) {
  const V z = (x < 0 ? -x : x) * 0.70710678118654752f;
  const V t = 1.0f / (1.0f + 0.5f * z);
  V p = 0.17087277f * t - 0.82215223f;
  for (float c : {1.48851587f, -1.13520398f, 0.27886807f, -0.18628806f, 0.09678418f, 0.37409196f,
                  1.00002368f, -1.26551223f})
    p = p * t + c;
  const V half_erfc = 0.5f * t * vexp(p - z * z);
  return x < 0 ? half_erfc : 1.0f - half_erfc;
}

// GELU (exact form) x·Φ(x) and its derivative Φ(x) + x·φ(x).
template <class V>
[[gnu::always_inline]] inline V gelu_v(V x) {
  return x * normal_cdf(x);
}
template <class V>
[[gnu::always_inline]] inline V gelu_grad_v(V x) {
  return normal_cdf(x) + x * vexp(-0.5f * x * x) * 0.39894228040143268f;
}

// The widest float vector of the build (none without AVX2+FMA), and an unaligned load of one.
#if defined(__AVX512F__)
using vfloat = __m512;
#elif defined(__AVX2__) && defined(__FMA__)
using vfloat = __m256;
#endif
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
inline vfloat vload(const float* p) {
  vfloat v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
#endif

// Outputs of at least this many bytes are written with non-temporal stores by the kernels that offer it
// (map_row with stream): past the caches, without first reading each line of y in. Measured on the
// Zen 4 VM (layer_norm forward, in one process): 1.2–1.6× as fast at 8192×1024 (32 MiB) and
// 32768×1024; at 2592×1024 (10.6 MB) 1.1× with 1 thread but slower with 2, and at 2592×256 slower
// still, as there y stays in the caches for its next reader. Tests lower it to reach the streaming
// path with small tensors.
inline int64_t stream_min_bytes = int64_t(16) << 20;
inline bool streams(int64_t bytes) { return bytes >= stream_min_bytes; }

// Orders this thread's non-temporal stores before its later stores (an sfence): a thread that streamed
// rows calls it before the end of its parallel region, so that the rows are there for the threads
// after the barrier. One per thread, not per row: an sfence waits for the streamed lines to drain
// (at 2592×256, one per row made layer_norm forward 3.5× as slow).
inline void stream_fence() {
#if defined(__SSE__)
  _mm_sfence();
#endif
}

// y[j] = f(in[j]...) over [n] floats, for one or more inputs in: [n]; f generic over the vector width
// (float, __m256, __m512). stream: the whole vectors go out with non-temporal stores (see
// stream_min_bytes); the caller ends with stream_fence().
template <class F, class... In>
  requires(sizeof...(In) > 0 && (std::is_same_v<In, float> && ...))
void map_row(float* y, int64_t n, bool stream, F f, const In*... in) {
  int64_t j = 0;
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
  constexpr int64_t W = sizeof(vfloat) / sizeof(float);
  if (stream) {
    for (; j < n && reinterpret_cast<uintptr_t>(y + j) % sizeof(vfloat); ++j) y[j] = f(in[j]...);
#if defined(__AVX512F__)
    for (; j + W <= n; j += W) _mm512_stream_ps(y + j, f(vload(in + j)...));
#else
    for (; j + W <= n; j += W) _mm256_stream_ps(y + j, f(vload(in + j)...));
#endif
  }
  for (; j + W <= n; j += W) {
    const vfloat v = f(vload(in + j)...);
    std::memcpy(y + j, &v, sizeof v);
  }
#else
  (void)stream;
#endif
  for (; j < n; ++j) y[j] = f(in[j]...);
}

// Σ_j f(x[j], g[j]) over [n] floats, f generic over the vector width as in map_row. Four vector
// accumulators (the adds of one would wait on each other), added as a tree at the end.
template <class F>
float sum_row(const float* x, const float* g, int64_t n, F f) {
  float s = 0;
  int64_t j = 0;
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
  constexpr int64_t W = sizeof(vfloat) / sizeof(float);
  vfloat acc[4] = {};
  for (; j + 4 * W <= n; j += 4 * W)
    for (int64_t u = 0; u < 4; ++u) acc[u] += f(vload(x + j + u * W), vload(g + j + u * W));
  for (; j + W <= n; j += W) acc[0] += f(vload(x + j), vload(g + j));
  s = hsum((acc[0] + acc[1]) + (acc[2] + acc[3]));
#endif
  for (; j < n; ++j) s += f(x[j], g[j]);
  return s;
}

// AdamW on one parameter value p (or a vector of them) with gradient g and moments m, v, all updated in
// place: m = b1·m + (1−b1)·g, v = b2·v + (1−b2)·g², p −= lr·(m·c1 / (√(v·c2) + eps) + wd·p), c1 and c2
// the bias corrections. V: float, double, __m256 or __m512; C: the coefficients' type.
template <class C>
struct AdamWCoef {
  C b1, b2, lr, c1, c2, eps, wd;
};
template <class V, class C>
void adamw_update(V& p, V g, V& m, V& v, const AdamWCoef<C>& k) {
  m = k.b1 * m + (1 - k.b1) * g;
  v = k.b2 * v + (1 - k.b2) * g * g;
  p = p - k.lr * (m * k.c1 / (vsqrt(v * k.c2) + k.eps) + k.wd * p);
}

// adamw_update over [n] floats: whole vectors, then the tail. GCC leaves a plain loop of it scalar
// (std::sqrt may set errno), so it is written with vector types.
inline void adamw_row(float* p, const float* g, float* m, float* v, int64_t n, const AdamWCoef<float>& k) {
  int64_t j = 0;
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
  constexpr int64_t W = sizeof(vfloat) / sizeof(float);
  for (; j + W <= n; j += W) {
    vfloat pv = vload(p + j), mv = vload(m + j), vv = vload(v + j);
    adamw_update(pv, vload(g + j), mv, vv, k);
    std::memcpy(p + j, &pv, sizeof pv);
    std::memcpy(m + j, &mv, sizeof mv);
    std::memcpy(v + j, &vv, sizeof vv);
  }
#endif
  for (; j < n; ++j) adamw_update(p[j], g[j], m[j], v[j], k);
}

// exp in compute type A: the vectorised method for float, std::exp otherwise.
template <class A>
A exp_acc(A x) {
  if constexpr (std::is_same_v<A, float>) return exp_scalar(x);
  else return std::exp(x);
}

// exp(x[j]) for j < n, into y (may equal x); x, y: [n] floats.
inline void exp_row(const float* x, float* y, int64_t n) {
  map_row(y, n, false, [](auto v) { return vexp(v); }, x);
}

// row[j] = keep[j] ? row[j] : fill for j < n (row: [n], keep: [n] contiguous bools), branch-free.
template <class T>
void select_row(const bool* keep, T* row, int64_t n, T fill) {
  int64_t j = 0;
  if constexpr (std::is_same_v<T, float>) {
#if defined(__AVX512F__)
    const __m512 f = _mm512_set1_ps(fill);
    for (; j + 16 <= n; j += 16) {
      const __m512i k = _mm512_maskz_cvtepu8_epi32(all16, _mm_loadu_si128(reinterpret_cast<const __m128i*>(keep + j)));
      _mm512_storeu_ps(row + j, _mm512_mask_blend_ps(_mm512_test_epi32_mask(k, k), f, _mm512_loadu_ps(row + j)));
    }
#elif defined(__AVX2__)
    const __m256 f = _mm256_set1_ps(fill);
    for (; j + 8 <= n; j += 8) {
      const __m256i k = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(keep + j)));
      const __m256 drop = _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_setzero_si256()));
      _mm256_storeu_ps(row + j, _mm256_blendv_ps(_mm256_loadu_ps(row + j), f, drop));
    }
#endif
  }
  for (; j < n; ++j)
    if (!keep[j]) row[j] = fill;
}

// The max of sign·x[j] over x: [n] in compute type, sign = +1 or -1 (−row_max(x, n, -1) is the min):
// -inf for n = 0, NaN when x holds a NaN.
template <class T>
acc_t<T> row_max(const T* x, int64_t n, int sign = 1) {
  using A = acc_t<T>;
  A m = -std::numeric_limits<A>::infinity();
  bool nan = false;
  int64_t j = 0;
  if constexpr (std::is_same_v<T, float>) {
#if defined(__AVX512F__)
    const __m512 s = _mm512_set1_ps(float(sign));
    __m512 v = _mm512_set1_ps(m);
    __mmask16 bad = 0;
    for (; j + 16 <= n; j += 16) {
      const __m512 u = _mm512_loadu_ps(x + j);
      v = max16(v, _mm512_mul_ps(u, s));
      bad |= _mm512_cmp_ps_mask(u, u, _CMP_UNORD_Q);
    }
    m = hmax(v), nan = bad != 0;
#elif defined(__AVX2__)
    const __m256 s = _mm256_set1_ps(float(sign));
    __m256 v = _mm256_set1_ps(m), bad = _mm256_setzero_ps();
    for (; j + 8 <= n; j += 8) {
      const __m256 u = _mm256_loadu_ps(x + j);
      v = _mm256_max_ps(v, _mm256_mul_ps(u, s));
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(u, u, _CMP_UNORD_Q));
    }
    m = hmax(v), nan = _mm256_movemask_ps(bad) != 0;
#endif
  }
  for (; j < n; ++j) {
    const A u = A(x[j]);
    nan |= u != u;
    m = std::max(m, A(sign) * u);
  }
  return nan ? std::numeric_limits<A>::quiet_NaN() : m;
}

// Σ_j a[j]·b[j] over [n] (b = nullptr: Σ_j a[j]) in compute type.
template <class T>
acc_t<T> row_dot(const T* a, const T* b, int64_t n) {
  using A = acc_t<T>;
  if constexpr (std::is_same_v<T, float>) {
    if (b) return sum_row(a, b, n, [](auto u, auto v) { return u * v; });
    return sum_row(a, a, n, [](auto u, auto) { return u; });
  }
  A s = 0;
  for (int64_t j = 0; j < n; ++j) s += b ? A(a[j]) * A(b[j]) : A(a[j]);
  return s;
}

// Σ_j x[j] over [n] in compute type.
template <class T>
acc_t<T> row_sum(const T* x, int64_t n) {
  return row_dot<T>(x, nullptr, n);
}

// Σ_j (x[j] − c)² over [n] in compute type (the variance's numerator, two-pass and stable).
template <class T>
acc_t<T> row_sq_dev(const T* x, int64_t n, acc_t<T> c) {
  using A = acc_t<T>;
  if constexpr (std::is_same_v<T, float>) return sum_row(x, x, n, [c](auto u, auto) { return (u - c) * (u - c); });
  A s = 0;
  for (int64_t j = 0; j < n; ++j) s += (A(x[j]) - c) * (A(x[j]) - c);
  return s;
}

// y[j] = exp(x[j] − shift) for j < n (y = nullptr: not stored; y may equal x); returns Σ_j y[j].
// x − shift = -inf gives 0, so masked entries set to -inf drop out.
template <class T>
acc_t<T> row_exp_sum(const T* x, T* y, int64_t n, acc_t<T> shift) {
  using A = acc_t<T>;
  A s = 0;
  int64_t j = 0;
  if constexpr (std::is_same_v<T, float>) {
#if defined(__AVX512F__)
    const __m512 sh = _mm512_set1_ps(shift);
    __m512 acc = _mm512_setzero_ps();
    for (; j + 16 <= n; j += 16) {
      __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + j), sh));
      if (y) _mm512_storeu_ps(y + j, e);
      acc = _mm512_add_ps(acc, e);
    }
    s = hsum(acc);
#elif defined(__AVX2__) && defined(__FMA__)
    const __m256 sh = _mm256_set1_ps(shift);
    __m256 acc = _mm256_setzero_ps();
    for (; j + 8 <= n; j += 8) {
      __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), sh));
      if (y) _mm256_storeu_ps(y + j, e);
      acc = _mm256_add_ps(acc, e);
    }
    s = hsum(acc);
#endif
  }
  for (; j < n; ++j) {
    A e = exp_acc(A(x[j]) - shift);
    if (y) y[j] = T(e);
    s += e;
  }
  return s;
}

}  // namespace unigen::cpu
