#pragma once
// GEMM micro-kernels, one per instruction set. Each computes one MR×NR tile of C:
//   a: element (i, k) of the MR×kc block of A at a[i·rsa + k·csa] (rows of A read in place: rsa = lda,
//      csa = 1; or a packed panel: rsa = 1, csa = MR),
//   b: packed panel [kc][NR], 64-byte aligned,
//   c: the tile, row stride ldc; C = alpha·(a·b) + beta·C, and beta == 0 never reads C.
// The accumulators live in registers for the whole k loop; A values are broadcast, B rows are vectors.
// Each SIMD kernel carries its own target attribute, so it compiles whatever -m flags the includer uses
// and is only called after a cpuid check (see cpu_features.hpp).
#include <cstdint>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define UNIGEN_GEMM_X86 1
#endif

namespace unigen::cpu::gemm_kernels {

// Portable C++: a 4×16 tile in a local array that the compiler vectorises for whatever it targets.
struct Generic {
  static constexpr int MR = 4, NR = 16;
  static void run(int64_t kc, const float* a, int64_t rsa, int64_t csa, const float* b, float* c, int64_t ldc,
                  float alpha, float beta) {
    float acc[MR][NR] = {};
    for (int64_t k = 0; k < kc; ++k, a += csa, b += NR)
      for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j) acc[i][j] += a[i * rsa] * b[j];
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j)
        c[i * ldc + j] = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * c[i * ldc + j];
  }
};

#ifdef UNIGEN_GEMM_X86

// AVX2 + FMA: 6×16 = 12 ymm accumulators + 2 for the B row + 1 broadcast (16 ymm registers in all).
struct Avx2 {
  static constexpr int MR = 6, NR = 16;
  __attribute__((target("avx2,fma"))) static void run(int64_t kc, const float* a, int64_t rsa, int64_t csa,
                                                       const float* b, float* c, int64_t ldc, float alpha,
                                                       float beta) {
    __m256 acc[MR][2];
    for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; ++k, a += csa, b += NR) {
      const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
      for (int i = 0; i < MR; ++i) {
        const __m256 ai = _mm256_broadcast_ss(a + i * rsa);
        acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
      }
    }
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    for (int i = 0; i < MR; ++i, c += ldc)
      for (int h = 0; h < 2; ++h) {
        __m256 r = _mm256_mul_ps(va, acc[i][h]);
        if (beta != 0.0f) r = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8 * h), r);
        _mm256_storeu_ps(c + 8 * h, r);
      }
  }
};

// AVX-512: 6×64 = 24 zmm accumulators, 4 for the B row, 1 broadcast (29 of the 32 registers). Per k:
// 4 B loads and 6 broadcasts feed 24 FMAs, so a core with two 512-bit FMA units (Intel Xeon) is not held
// back by its loads, and 6 rows of A read in place take 6 of the 12 ways of an L1 set when lda is a
// power of two. Measured in one process on this Xeon against the 8×32 kernel it replaced: 1.04-1.09× as
// fast on 1 thread and 1.05-1.17× on 2 (see docs/kernels.md).
// noinline: inlined into the macro-kernel, its loop competed with the caller for registers and spilled.
struct Avx512 {
  static constexpr int MR = 6, NR = 64;
  // acc[i][v] += ar[i][0] · b[16v .. 16v+15] for one k (ar: the MR rows of A at this k).
  __attribute__((target("avx512f,avx2,fma"), always_inline)) static inline void step(__m512 (&acc)[MR][4],
                                                                                       const float* const* ar,
                                                                                       const float* b) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16), b2 = _mm512_load_ps(b + 32),
                 b3 = _mm512_load_ps(b + 48);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(*ar[i]);
      acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
      acc[i][2] = _mm512_fmadd_ps(ai, b2, acc[i][2]);
      acc[i][3] = _mm512_fmadd_ps(ai, b3, acc[i][3]);
    }
  }
  // Steps k0..end; ar and b advance past them. csa is a compile-time 1 (rows of A read in place) or MR
  // (a packed panel), and each row has its own pointer, so every address in the unrolled body is a
  // register plus a constant: with a + i·rsa + u·csa, GCC kept the offsets on the stack and spilled
  // an accumulator. 2 steps per iteration: fewer loop and pointer updates per FMA than 1, fewer spills
  // than 4 (best of 8 alternating runs at 2592×256×256 and 1024², 1 thread: 198/192 GFLOP/s against
  // 190/184 and 197/197).
  template <int csa>
  __attribute__((target("avx512f,avx2,fma"), always_inline)) static inline void k_loop(int64_t k0, int64_t end,
                                                                                         const float* (&ar)[MR],
                                                                                         const float*& b,
                                                                                         __m512 (&acc)[MR][4]) {
    int64_t k = k0;
    for (; k + 2 <= end; k += 2, b += 2 * NR) {
#pragma GCC unroll 2
      for (int u = 0; u < 2; ++u) {
        const float* au[MR];
        for (int i = 0; i < MR; ++i) au[i] = ar[i] + u * csa;
        step(acc, au, b + u * NR);
      }
      for (int i = 0; i < MR; ++i) ar[i] += 2 * csa;
    }
    for (; k < end; ++k, b += NR) {
      step(acc, ar, b);
      for (int i = 0; i < MR; ++i) ar[i] += csa;
    }
  }
  // csa: 1 or MR (the two layouts of a above).
  __attribute__((target("avx512f,avx2,fma"), noinline)) static void run(int64_t kc, const float* a, int64_t rsa,
                                                                          int64_t csa, const float* b, float* c,
                                                                          int64_t ldc, float alpha, float beta) {
    __m512 acc[MR][4];
    const float* ar[MR];
    for (int i = 0; i < MR; ++i) {
      ar[i] = a + i * rsa;
      for (int v = 0; v < 4; ++v) acc[i][v] = _mm512_setzero_ps();
    }
    // The last 32 steps run after a prefetch of the C tile: late enough that the B stream (kc·256 bytes
    // through L1) does not evict it again first, early enough to hide an L3 miss.
    const int64_t split = kc > 32 ? kc - 32 : 0;
    for (int part = 0; part < 2; ++part) {
      if (part == 1)
        for (int i = 0; i < MR; ++i)
          for (int v = 0; v < 4; ++v) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16 * v), _MM_HINT_T0);
      const int64_t k0 = part ? split : 0, end = part ? kc : split;
      if (csa == 1)
        k_loop<1>(k0, end, ar, b, acc);
      else
        k_loop<MR>(k0, end, ar, b, acc);
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i, c += ldc)
      for (int v = 0; v < 4; ++v) {
        __m512 r = _mm512_mul_ps(va, acc[i][v]);
        if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_loadu_ps(c + 16 * v), r);
        _mm512_storeu_ps(c + 16 * v, r);
      }
  }
};

// dst[r·ldd + c] = src[c·lds + r] for r, c < 8 (AVX): the transposing copy that packs a transposed B.
__attribute__((target("avx2"))) inline void transpose_8x8(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; i += 2) {  // pairs of rows interleaved: t[i] = x(i,0) x(i+1,0) x(i,1) x(i+1,1) | 4, 5
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int h = 0; h < 8; h += 4) {  // groups of 4 rows: r[h + c] = column c (and c + 4) of rows h..h+3
    r[h + 0] = _mm256_shuffle_ps(t[h], t[h + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[h + 1] = _mm256_shuffle_ps(t[h], t[h + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int c = 0; c < 4; ++c) {  // the 128-bit halves of rows 0..3 and 4..7 joined
    _mm256_storeu_ps(dst + c * ldd, _mm256_permute2f128_ps(r[c], r[c + 4], 0x20));
    _mm256_storeu_ps(dst + (c + 4) * ldd, _mm256_permute2f128_ps(r[c], r[c + 4], 0x31));
  }
}

#endif  // UNIGEN_GEMM_X86

}  // namespace unigen::cpu::gemm_kernels
