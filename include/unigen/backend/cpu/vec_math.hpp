#pragma once
// Vectorised float math for the CPU kernels: exp (and from it GELU) in vectors of the widest kind the
// instruction set allows (AVX-512, AVX2+FMA; else 128 bits: SSE2 on every x86-64, NEON on every AArch64),
// and the row maps (map_row, which can stream large outputs past the caches) and row reductions that
// softmax, layer_norm, cross-entropy, GELU and attention share. Every path evaluates the same polynomial
// with the same multiply-adds (fused where the instruction set has them), so a vector lane and the scalar
// tail give bit-identical results. Only where no vector kind exists (other architectures) do floats take
// the scalar code. Other element types (double, bf16, f16) take plain scalar loops in their compute type.
//
// The code that depends on the vector kind is in vec_math.inc, compiled here once for the build's flags
// (namespace vec_build; the project builds with -march=native) and, on x86-64 where those flags stop
// short, once more for AVX2+FMA (vec_avx2) and for AVX-512 (vec_avx512). The hottest row kernels on floats
// (GELU and layer_norm forward and backward, row_max and row_exp_sum, select_row, dropout's mask) go
// through VecKernels, which picks the widest of these the CPU runs at run time, as the GEMM picks its
// micro-kernel; so a program built without -march still computes GELU 16 lanes at a time on an AVX-512
// CPU. Everything else (map_row with the callers' own functions, the other reductions) uses the build's
// vectors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "unigen/backend/cpu/cpu_features.hpp"
#include "unigen/core/dtype.hpp"
#include "unigen/core/rng.hpp"

#if defined(__SSE__)
#include <immintrin.h>
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
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

// AdamW's coefficients (see adamw_update): b1, b2, lr, bias corrections c1 and c2, eps, weight decay wd.
template <class C>
struct AdamWCoef {
  C b1, b2, lr, c1, c2, eps, wd;
};

// The row kernels that one compile of vec_math.inc provides for run-time dispatch (see vec_kernels).
struct VecKernels {
  const char* name;  // the vector kind: "avx512", "avx2", "sse2", "neon" or "scalar"
  void (*gelu_row)(float* y, const float* x, int64_t n);
  void (*gelu_grad_row)(float* gx, const float* x, const float* g, int64_t n);
  float (*row_max)(const float* x, int64_t n, int sign);
  float (*row_exp_sum)(const float* x, float* y, int64_t n, float shift);
  std::pair<float, float> (*layer_norm_row)(const float* x, float* y, const float* w, const float* b, int64_t n,
                                            double eps, bool stream);
  void (*layer_norm_backward_row)(const float* x, const float* g, const float* w, float* gx, int64_t n, float m,
                                  float rstd, float* gw, float* gb, bool stream);
  void (*dropout_pairs)(float* m, int64_t j0, int64_t pairs, uint64_t key, uint64_t cut, float keep);
  void (*select_row)(const bool* keep, float* row, int64_t n, float fill);
};

}  // namespace unigen::cpu

// vec_math.inc reads UNIGEN_VEC (the vector width in bits: 512, 256 = AVX2+FMA, 128 = SSE2 or NEON, 0 =
// none), UNIGEN_VEC_FMA (1: fused multiply-adds) and UNIGEN_VEC_SSE41 (1: SSE4.1's rounding).
// UNIGEN_VEC_BUILD is the build flags' own width.
#if defined(__AVX512F__) && defined(__AVX2__) && defined(__FMA__)
#define UNIGEN_VEC_BUILD 512
#elif defined(__AVX2__) && defined(__FMA__)
#define UNIGEN_VEC_BUILD 256
#elif (defined(__SSE2__) && defined(__x86_64__)) || (defined(__aarch64__) && defined(__ARM_NEON))
#define UNIGEN_VEC_BUILD 128
#else
#define UNIGEN_VEC_BUILD 0
#endif

#define UNIGEN_VEC UNIGEN_VEC_BUILD
#if defined(__FMA__) || defined(__aarch64__)
#define UNIGEN_VEC_FMA 1
#else
#define UNIGEN_VEC_FMA 0
#endif
#if defined(__SSE4_1__)
#define UNIGEN_VEC_SSE41 1
#else
#define UNIGEN_VEC_SSE41 0
#endif
namespace unigen::cpu::vec_build {
#include "unigen/backend/cpu/vec_math.inc"
}
#undef UNIGEN_VEC
#undef UNIGEN_VEC_FMA
#undef UNIGEN_VEC_SSE41

// The clones for the vector kinds above the build's (x86-64 with GCC or Clang).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && UNIGEN_VEC_BUILD < 512
#define UNIGEN_VEC_CLONES 1
#define UNIGEN_VEC_FMA 1
#define UNIGEN_VEC_SSE41 1
#define UNIGEN_VEC 512
UNIGEN_TARGET_PUSH("avx512f,avx2,fma")
namespace unigen::cpu::vec_avx512 {
#include "unigen/backend/cpu/vec_math.inc"
}
UNIGEN_TARGET_POP
#undef UNIGEN_VEC
#if UNIGEN_VEC_BUILD < 256
#define UNIGEN_VEC 256
UNIGEN_TARGET_PUSH("avx2,fma")
namespace unigen::cpu::vec_avx2 {
#include "unigen/backend/cpu/vec_math.inc"
}
UNIGEN_TARGET_POP
#undef UNIGEN_VEC
#endif
#undef UNIGEN_VEC_FMA
#undef UNIGEN_VEC_SSE41
#endif

namespace unigen::cpu {

// The helpers that keep the build's vectors (the callers pass their own functions to map_row).
using vec_build::adamw_row;
using vec_build::adamw_update;
using vec_build::exp_acc;
using vec_build::exp_scalar;
using vec_build::map_row;
using vec_build::row_dot;
using vec_build::row_sq_dev;
using vec_build::row_sum;
using vec_build::vexp;

// The row kernels of the widest vector kind this CPU runs (cpu_kernel(), which UNIGEN_CPU_KERNEL or
// set_cpu_kernel can lower): a clone's where the build's flags stop short of it, else the build's own.
inline const VecKernels& vec_kernels() {
#if defined(UNIGEN_VEC_CLONES)
  switch (cpu_kernel()) {
    case Isa::avx512: return vec_avx512::kernels;
#if UNIGEN_VEC_BUILD < 256
    case Isa::avx2: return vec_avx2::kernels;
#endif
    default: break;
  }
#endif
  return vec_build::kernels;
}

// The vector kind of the dispatched row kernels in use ("avx512", "avx2", "sse2", "neon" or "scalar"),
// for benchmark reports and for users checking what a build runs.
inline const char* row_kernel_name() { return vec_kernels().name; }

// y = GELU(x) and gx = g·GELU'(x) over [n] floats (exact form, see gelu_v).
inline void gelu_row(float* y, const float* x, int64_t n) { vec_kernels().gelu_row(y, x, n); }
inline void gelu_grad_row(float* gx, const float* x, const float* g, int64_t n) {
  vec_kernels().gelu_grad_row(gx, x, g, n);
}

// row_max and row_exp_sum (defined in vec_math.inc), float rows through vec_kernels.
template <class T>
acc_t<T> row_max(const T* x, int64_t n, int sign = 1) {
  if constexpr (std::is_same_v<T, float>) return vec_kernels().row_max(x, n, sign);
  else return vec_build::row_max(x, n, sign);
}

template <class T>
acc_t<T> row_exp_sum(const T* x, T* y, int64_t n, acc_t<T> shift) {
  if constexpr (std::is_same_v<T, float>) return vec_kernels().row_exp_sum(x, y, n, shift);
  else return vec_build::row_exp_sum(x, y, n, shift);
}

// layer_norm's forward and backward of one row (see vec_math.inc); float rows through vec_kernels.
template <class T>
std::pair<acc_t<T>, acc_t<T>> layer_norm_row(const T* x, T* y, const T* w, const T* b, int64_t n, double eps,
                                             bool stream) {
  if constexpr (std::is_same_v<T, float>) return vec_kernels().layer_norm_row(x, y, w, b, n, eps, stream);
  else return vec_build::layer_norm_row(x, y, w, b, n, eps, stream);
}
template <class T>
void layer_norm_backward_row(const T* x, const T* g, const T* w, T* gx, int64_t n, acc_t<T> m, acc_t<T> rstd,
                             acc_t<T>* gw, acc_t<T>* gb, bool stream) {
  if constexpr (std::is_same_v<T, float>)
    vec_kernels().layer_norm_backward_row(x, g, w, gx, n, m, rstd, gw, gb, stream);
  else
    vec_build::layer_norm_backward_row(x, g, w, gx, n, m, rstd, gw, gb, stream);
}

// row[j] = keep[j] ? row[j] : fill (see vec_math.inc); float rows through vec_kernels.
template <class T>
void select_row(const bool* keep, T* row, int64_t n, T fill) {
  if constexpr (std::is_same_v<T, float>) vec_kernels().select_row(keep, row, n, fill);
  else vec_build::select_row(keep, row, n, fill);
}

// Dropout's mask for `pairs` pairs from pair j0 on (see vec_math.inc); float masks through vec_kernels.
template <class T>
void dropout_pairs(T* m, int64_t j0, int64_t pairs, uint64_t key, uint64_t cut, T keep) {
  if constexpr (std::is_same_v<T, float>) vec_kernels().dropout_pairs(m, j0, pairs, key, cut, keep);
  else vec_build::dropout_pairs(m, j0, pairs, key, cut, keep);
}

}  // namespace unigen::cpu
