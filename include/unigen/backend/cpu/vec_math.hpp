#pragma once
// Vectorised float math for the CPU kernels: exp (and from it GELU) in vectors of the widest kind the
// target flags allow (AVX-512, AVX2+FMA; else 128 bits: SSE2 on every x86-64, NEON on every AArch64),
// picked at compile time (the project builds with -march=native; a program built without -march gets
// the 128-bit path), and the row maps (map_row, which can stream large outputs past the caches) and row
// reductions that softmax, layer_norm, cross-entropy, GELU and attention share. Every path evaluates the
// same polynomial with the same multiply-adds (fused where the build has the instruction), so a vector
// lane and the scalar tail give bit-identical results. Only where no vector kind exists (other
// architectures) do floats take the scalar code. Other element types (double, bf16, f16) take plain
// scalar loops in their compute type.
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
#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#endif

// The build has a fused multiply-add instruction (x86 with FMA, every AArch64).
#if defined(__FMA__) || defined(__aarch64__)
#define UNIGEN_HW_FMA 1
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

// a·b + c: fused where the build has the instruction, else a multiply and an add (std::fma would be a
// library call, 30 times as slow as the rest of exp). Scalar and vector code use the same one.
inline float fmadd(float a, float b, float c) {
#if defined(UNIGEN_HW_FMA)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

// x rounded to the nearest integer, ties to even (the vector conversions below do the same). nearbyint
// is one instruction (which GCC vectorises in the scalar tails) from SSE4.1 on and on Arm; on plain
// x86-64 it is a library call, so there a conversion to int rounds (as the MXCSR says: to nearest).
inline float round_f(float x) {
#if defined(__SSE2__) && !defined(__SSE4_1__)
  return float(_mm_cvtss_si32(_mm_set_ss(x)));
#else
  return std::nearbyint(x);
#endif
}

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
  const float n = round_f(x * log2e);
  float r = fmadd(n, -ln2_hi, x);
  r = fmadd(n, -ln2_lo, r);
  float y = fmadd(fmadd(fmadd(fmadd(fmadd(p0, r, p1), r, p2), r, p3), r, p4), r, p5);
  y = fmadd(y, r * r, r) + 1.0f;
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

// What exp_lanes needs on the 128- and 256-bit vectors (8 floats with AVX2+FMA, 4 with SSE2, as on every
// x86-64, or NEON, as on every AArch64), each one instruction: a multiply-add, the round to int32 lanes,
// min(hi, x) that keeps a NaN x, and x zeroed where below, a lane mask of x < lo. (Written as operators,
// GCC 12 made blends of the last two.)
#if defined(__AVX2__) && defined(__FMA__)
inline __m256 vfma(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
inline auto round_i(__m256 x) { return decltype(x < x)(_mm256_cvtps_epi32(x)); }
inline __m256 vmin(__m256 hi, __m256 x) { return _mm256_min_ps(hi, x); }
inline __m256 zero_where(__m256 below, __m256 x) { return _mm256_andnot_ps(below, x); }
#endif
#if defined(__SSE2__)
inline __m128 vfma(__m128 a, __m128 b, __m128 c) {
#if defined(__FMA__)
  return _mm_fmadd_ps(a, b, c);
#else
  return a * b + c;
#endif
}
inline auto round_i(__m128 x) { return decltype(x < x)(_mm_cvtps_epi32(x)); }
inline __m128 vmin(__m128 hi, __m128 x) { return _mm_min_ps(hi, x); }
inline __m128 zero_where(__m128 below, __m128 x) { return _mm_andnot_ps(below, x); }
#elif defined(__aarch64__) && defined(__ARM_NEON)
inline float32x4_t vfma(float32x4_t a, float32x4_t b, float32x4_t c) { return vfmaq_f32(c, a, b); }
inline auto round_i(float32x4_t x) { return decltype(x < x)(vcvtnq_s32_f32(x)); }
inline float32x4_t vmin(float32x4_t hi, float32x4_t x) { return vminq_f32(hi, x); }  // NaN where x is NaN
inline float32x4_t zero_where(float32x4_t below, float32x4_t x) {
  return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(x), vreinterpretq_u32_f32(below)));
}
#endif

// exp of the lanes of a 128- or 256-bit vector (same method as exp_scalar, 2^n built in the exponent
// bits in two factors). Lanes below lo compute exp(0) and give 0; a NaN lane stays NaN. Always inlined:
// GCC 12 called it once per vector of a plain x86-64 row loop.
template <class V>
[[gnu::always_inline]] inline V exp_lanes(V x) {
  using namespace expf_c;
  const V zero = {}, below = V(x < lo);
  x = zero_where(below, vmin(zero + hi, x));
  const auto k = round_i(x * log2e), k1 = k >> 1;  // int32 lanes
  const V n = __builtin_convertvector(k, V);
  V r = vfma(n, zero - ln2_hi, x);
  r = vfma(n, zero - ln2_lo, r);
  V y = vfma(zero + p0, r, zero + p1);
  for (float c : {p2, p3, p4, p5}) y = vfma(y, r, zero + c);
  y = vfma(y, r * r, r) + 1.0f;
  // a NaN lane's k (INT_MIN on x86) shifts a negative int, which C++20 defines
  const V s1 = V((k1 + 127) << 23), s2 = V((k - k1 + 127) << 23);
  return zero_where(below, y * s1 * s2);
}

// exp and sqrt overloaded on float and the vectors, for the width-generic functions below (which use
// GCC's vector-extension operators, so one definition serves every width).
inline float vexp(float x) { return exp_scalar(x); }
inline float vsqrt(float x) { return std::sqrt(x); }
inline double vsqrt(double x) { return std::sqrt(x); }
#if defined(__AVX512F__)
inline __m512 vexp(__m512 x) { return exp16(x); }
inline __m512 vsqrt(__m512 x) { return _mm512_maskz_sqrt_ps(all16, x); }
#endif
#if defined(__AVX2__) && defined(__FMA__)
inline __m256 vexp(__m256 x) { return exp_lanes(x); }
inline __m256 vsqrt(__m256 x) { return _mm256_sqrt_ps(x); }
#endif
#if defined(__SSE2__)
inline __m128 vexp(__m128 x) { return exp_lanes(x); }
inline __m128 vsqrt(__m128 x) { return _mm_sqrt_ps(x); }
#elif defined(__aarch64__) && defined(__ARM_NEON)
inline float32x4_t vexp(float32x4_t x) { return exp_lanes(x); }
inline float32x4_t vsqrt(float32x4_t x) { return vsqrtq_f32(x); }
#endif

// The sum (hsum) and the max (hmax) of the lanes of a vector register, taken as a tree. Defined on every
// x86 build, each with its own target, so that the GEMM's few-rows kernels (gemm_kernels.hpp, compiled
// per instruction set whatever the -m flags) use them too.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
inline float hsum(__m128 s) {
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
}
inline float hmax(__m128 s) {
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(s, _mm_shuffle_ps(s, s, 1)));
}
__attribute__((target("avx2"))) inline float hsum(__m256 v) {
  return hsum(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}
__attribute__((target("avx2"))) inline float hmax(__m256 v) {
  return hmax(_mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
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
#elif defined(__aarch64__) && defined(__ARM_NEON)
inline float hsum(float32x4_t v) { return vaddvq_f32(v); }
inline float hmax(float32x4_t v) { return vmaxvq_f32(v); }
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

// The widest float vector of the build (UNIGEN_VFLOAT, its width in bits, defined when there is one), an
// unaligned load of one, and a non-temporal store of one to an address aligned to its size (a plain
// store on Arm).
#if defined(__AVX512F__)
#define UNIGEN_VFLOAT 512
using vfloat = __m512;
#elif defined(__AVX2__) && defined(__FMA__)
#define UNIGEN_VFLOAT 256
using vfloat = __m256;
#elif defined(__SSE2__) && defined(__x86_64__)
#define UNIGEN_VFLOAT 128
using vfloat = __m128;
#elif defined(__aarch64__) && defined(__ARM_NEON)
#define UNIGEN_VFLOAT 128
using vfloat = float32x4_t;
#endif
#if defined(UNIGEN_VFLOAT)
inline vfloat vload(const float* p) {
  vfloat v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void vstream(float* p, vfloat v) {
#if defined(__AVX512F__)
  _mm512_stream_ps(p, v);
#elif defined(__AVX2__) && defined(__FMA__)
  _mm256_stream_ps(p, v);
#elif defined(__SSE2__)
  _mm_stream_ps(p, v);
#else
  vst1q_f32(p, v);
#endif
}
// Whether any lane of a comparison's result on vfloats (lanes 0 or -1) is set, in one instruction (a
// generic test through memory met a store-forwarding stall: row_max of 81 floats took twice as long).
using vmask = decltype(vfloat{} < vfloat{});
inline bool any_lane(vmask m) {
#if defined(__AVX512F__)
  return _mm512_test_epi32_mask(__m512i(m), __m512i(m)) != 0;
#elif defined(__AVX2__)
  return _mm256_movemask_ps(__m256(m)) != 0;
#elif defined(__SSE2__)
  return _mm_movemask_ps(__m128(m)) != 0;
#else
  return vmaxvq_u32(uint32x4_t(m)) != 0;
#endif
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
// (float or a vector: vfloat, __m256, ...). stream: the whole vectors go out with non-temporal stores (see
// stream_min_bytes); the caller ends with stream_fence().
template <class F, class... In>
  requires(sizeof...(In) > 0 && (std::is_same_v<In, float> && ...))
void map_row(float* y, int64_t n, bool stream, F f, const In*... in) {
  int64_t j = 0;
#if defined(UNIGEN_VFLOAT)
  constexpr int64_t W = sizeof(vfloat) / sizeof(float);
  if (stream) {
    for (; j < n && reinterpret_cast<uintptr_t>(y + j) % sizeof(vfloat); ++j) y[j] = f(in[j]...);
    for (; j + W <= n; j += W) vstream(y + j, f(vload(in + j)...));
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
#if defined(UNIGEN_VFLOAT)
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
#if defined(UNIGEN_VFLOAT)
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
  // branch-free, which GCC vectorises where the intrinsics above are absent (SSE2, NEON); a branch per
  // entry flips within every row of a prefix mask (rows of 81 on plain x86-64: 1.23-1.35x as fast)
  for (; j < n; ++j) row[j] = keep[j] ? row[j] : fill;
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
#if defined(UNIGEN_VFLOAT)
    constexpr int64_t W = sizeof(vfloat) / sizeof(float);
    vfloat v = vfloat{} + m;
    auto bad = v != v;  // the lanes that met a NaN
    for (; j + W <= n; j += W) {
      const vfloat u = vload(x + j), w = u * float(sign);
      v = v > w ? v : w;  // a max instruction on x86
      bad |= u != u;
    }
    m = hmax(v), nan = any_lane(bad);
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
#if defined(UNIGEN_VFLOAT)
    constexpr int64_t W = sizeof(vfloat) / sizeof(float);
    vfloat acc = {};
    for (; j + W <= n; j += W) {
      const vfloat e = vexp(vload(x + j) - shift);
      if (y) std::memcpy(y + j, &e, sizeof e);
      acc += e;
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
