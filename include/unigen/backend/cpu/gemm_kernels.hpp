#pragma once
// GEMM micro-kernels, one per instruction set. Each computes one MR×NR tile of C:
//   a: element (i, k) of the MR×kc block of A at a[i·rsa + k·csa] (rows of A read in place: rsa = lda,
//      csa = 1; or a packed panel: rsa = 1, csa = MR),
//   b: packed panel [kc][NR], 64-byte aligned,
//   c: the tile, row stride ldc; C = alpha·(a·b) + beta·C, and beta == 0 never reads C.
// The accumulators live in registers for the whole k loop; A values are broadcast, B rows are vectors.
// Each SIMD kernel carries its own target attribute (the few-rows kernels, Rows512 and Rows256, their
// struct's target pragma), so it compiles whatever -m flags the includer uses and is only called after a
// cpuid check (see cpu_features.hpp).
#include <bit>
#include <cstdint>
#include <cstring>

#include "unigen/backend/cpu/cpu_features.hpp"
#include "unigen/backend/cpu/vec_math.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define UNIGEN_GEMM_X86 1
#endif

namespace unigen::cpu::gemm_kernels {

// Portable: a 4×16 tile in 16 vectors of 4 floats (GCC/Clang vector extensions: SSE on any x86-64, NEON
// on Arm), so the accumulators stay in registers. Written as a float[4][16] left to the vectoriser, it
// kept them in memory: the whole GEMM (256³, 1 thread, on the Xeon) ran at 2.8 GFLOP/s with
// -march=native and 3.5 without; this one 40-44 and 16 (there x86-64's 16 xmm registers spill).
struct Generic {
  static constexpr int MR = 4, NR = 16;
  typedef float v4 __attribute__((vector_size(16)));
  static void run(int64_t kc, const float* a, int64_t rsa, int64_t csa, const float* b, float* c, int64_t ldc,
                  float alpha, float beta) {
    v4 acc[MR][NR / 4] = {};
    for (int64_t k = 0; k < kc; ++k, a += csa, b += NR) {
      v4 bk[NR / 4];
      std::memcpy(bk, b, sizeof bk);
      for (int i = 0; i < MR; ++i) {
        const float ai = a[i * rsa];
        for (int j = 0; j < NR / 4; ++j) acc[i][j] += ai * bk[j];
      }
    }
    for (int i = 0; i < MR; ++i, c += ldc)
      for (int j = 0; j < NR; ++j) {
        const float x = alpha * acc[i][j / 4][j % 4];
        c[j] = beta == 0.0f ? x : x + beta * c[j];
      }
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

// AVX-512: 6×64 = 24 zmm accumulators, 4 for the B row, 4 for broadcasts (all 32 registers). Per k:
// 4 B loads and 6 broadcasts feed 24 FMAs, so a core with two 512-bit FMA units (Intel Xeon) is not held
// back by its loads, and 6 rows of A read in place take 6 of the 12 ways of an L1 set when lda is a
// power of two. Measured in one process on this Xeon against the 8×32 kernel it replaced: 1.04-1.09× as
// fast on 1 thread and 1.05-1.17× on 2 (see docs/kernels.md).
// The k loop is written in assembly with fixed registers (zmm0-23 the tile, row i in zmm4i..4i+3;
// zmm24-27 the B row; zmm28-31 the broadcasts). The same loop in intrinsics left GCC 4 registers short
// once unrolled, and it rotated the accumulators through moves and spare registers: against it, in one
// process alternating (2026-11-28, 1 thread), 1.01-1.09× as fast on the Transformer shapes and 1.01-1.03×
// on 1024² and 2048²; a tile alone, B streaming from L2, 1.01-1.07×.
// One k step: the B row at byte offset OFF of %[b] into zmm24-27; rows 0-2 of A broadcast from a, a +
// rsa, a + 2·rsa, rows 3-5 from a3 = a + 3·rsa (rsa, csa in bytes); then a and a3 advance by csa.
#define UNIGEN_FMA4(bc, acc0, acc1, acc2, acc3)          \
  "vfmadd231ps %%zmm24, %%zmm" #bc ", %%zmm" #acc0 "\n\t" \
  "vfmadd231ps %%zmm25, %%zmm" #bc ", %%zmm" #acc1 "\n\t" \
  "vfmadd231ps %%zmm26, %%zmm" #bc ", %%zmm" #acc2 "\n\t" \
  "vfmadd231ps %%zmm27, %%zmm" #bc ", %%zmm" #acc3 "\n\t"
#define UNIGEN_STEP(OFF)                                                                              \
  "vmovaps " #OFF "(%[b]), %%zmm24\n\t"                                                                \
  "vmovaps " #OFF "+64(%[b]), %%zmm25\n\t"                                                             \
  "vmovaps " #OFF "+128(%[b]), %%zmm26\n\t"                                                            \
  "vmovaps " #OFF "+192(%[b]), %%zmm27\n\t"                                                            \
  "vbroadcastss (%[a]), %%zmm28\n\t"                                                                   \
  "vbroadcastss (%[a],%[rsa],1), %%zmm29\n\t"                                                          \
  UNIGEN_FMA4(28, 0, 1, 2, 3) "vbroadcastss (%[a],%[rsa],2), %%zmm30\n\t"                              \
  UNIGEN_FMA4(29, 4, 5, 6, 7) "vbroadcastss (%[a3]), %%zmm31\n\t"                                      \
  UNIGEN_FMA4(30, 8, 9, 10, 11) "vbroadcastss (%[a3],%[rsa],1), %%zmm28\n\t"                           \
  UNIGEN_FMA4(31, 12, 13, 14, 15) "vbroadcastss (%[a3],%[rsa],2), %%zmm29\n\t"                         \
  UNIGEN_FMA4(28, 16, 17, 18, 19) "add %[csa], %[a]\n\t"                                               \
  "add %[csa], %[a3]\n\t" UNIGEN_FMA4(29, 20, 21, 22, 23)
// %[n] k steps: 4 per iteration, then the rest one at a time (local labels L1, L2, L3).
#define UNIGEN_KLOOP(L1, L2, L3)                                                                           \
  #L1 ":\n\t"                                                                                              \
  "cmp $4, %[n]\n\t"                                                                                       \
  "jl " #L2 "f\n\t" UNIGEN_STEP(0) UNIGEN_STEP(256) UNIGEN_STEP(512) UNIGEN_STEP(768) "add $1024, %[b]\n\t" \
  "sub $4, %[n]\n\t"                                                                                       \
  "jmp " #L1 "b\n\t" #L2 ":\n\t"                                                                           \
  "test %[n], %[n]\n\t"                                                                                    \
  "jz " #L3 "f\n\t" UNIGEN_STEP(0) "add $256, %[b]\n\t"                                                    \
  "dec %[n]\n\t"                                                                                           \
  "jmp " #L2 "b\n\t" #L3 ":\n\t"
// The 4 cache lines of a row of the C tile at address ROW, prefetched.
#define UNIGEN_PREFETCH_ROW(ROW) \
  "prefetcht0 " ROW "\n\t" "prefetcht0 64" ROW "\n\t" "prefetcht0 128" ROW "\n\t" "prefetcht0 192" ROW "\n\t"
// One vector of C at byte offset OFF of ROW: alpha (zmm24) · acc, + beta (zmm25) · C unless nobeta.
#define UNIGEN_STORE(ROW, OFF, acc)                   \
  "vmulps %%zmm24, %%zmm" #acc ", %%zmm" #acc "\n\t"  \
  "test %[nobeta], %[nobeta]\n\t"                     \
  "jnz 1f\n\t"                                        \
  "vfmadd231ps " #OFF ROW ", %%zmm25, %%zmm" #acc "\n\t" \
  "1:\n\t"                                            \
  "vmovups %%zmm" #acc ", " #OFF ROW "\n\t"
#define UNIGEN_STORE_ROW(ROW, acc0, acc1, acc2, acc3) \
  UNIGEN_STORE(ROW, 0, acc0) UNIGEN_STORE(ROW, 64, acc1) UNIGEN_STORE(ROW, 128, acc2) UNIGEN_STORE(ROW, 192, acc3)

struct Avx512 {
  static constexpr int MR = 6, NR = 64;
  // noinline: one copy of the loop for all callers (it clobbers every vector register anyway).
  __attribute__((target("avx512f,avx2,fma"), noinline)) static void run(int64_t kc, const float* a, int64_t rsa,
                                                                          int64_t csa, const float* b, float* c,
                                                                          int64_t ldc, float alpha, float beta) {
    // The C tile is prefetched before the last 32 steps: late enough that the B stream (kc·256 bytes
    // through L1) does not evict it again first, early enough to hide an L3 miss.
    int64_t n = kc > 32 ? kc - 32 : 0;
    const int64_t rest = kc - n, rsab = rsa * 4, csab = csa * 4, ldcb = ldc * 4, nobeta = beta == 0.0f;
    const float* a3 = a + 3 * rsa;
    float* c3 = c + 3 * ldc;
    asm volatile(
        "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
        "vmovaps %%zmm0, %%zmm1\n\t" "vmovaps %%zmm0, %%zmm2\n\t" "vmovaps %%zmm0, %%zmm3\n\t"
        "vmovaps %%zmm0, %%zmm4\n\t" "vmovaps %%zmm0, %%zmm5\n\t" "vmovaps %%zmm0, %%zmm6\n\t"
        "vmovaps %%zmm0, %%zmm7\n\t" "vmovaps %%zmm0, %%zmm8\n\t" "vmovaps %%zmm0, %%zmm9\n\t"
        "vmovaps %%zmm0, %%zmm10\n\t" "vmovaps %%zmm0, %%zmm11\n\t" "vmovaps %%zmm0, %%zmm12\n\t"
        "vmovaps %%zmm0, %%zmm13\n\t" "vmovaps %%zmm0, %%zmm14\n\t" "vmovaps %%zmm0, %%zmm15\n\t"
        "vmovaps %%zmm0, %%zmm16\n\t" "vmovaps %%zmm0, %%zmm17\n\t" "vmovaps %%zmm0, %%zmm18\n\t"
        "vmovaps %%zmm0, %%zmm19\n\t" "vmovaps %%zmm0, %%zmm20\n\t" "vmovaps %%zmm0, %%zmm21\n\t"
        "vmovaps %%zmm0, %%zmm22\n\t" "vmovaps %%zmm0, %%zmm23\n\t"
        UNIGEN_KLOOP(2, 3, 4)
        UNIGEN_PREFETCH_ROW("(%[c])") UNIGEN_PREFETCH_ROW("(%[c],%[ldc],1)") UNIGEN_PREFETCH_ROW("(%[c],%[ldc],2)")
        UNIGEN_PREFETCH_ROW("(%[c3])") UNIGEN_PREFETCH_ROW("(%[c3],%[ldc],1)") UNIGEN_PREFETCH_ROW("(%[c3],%[ldc],2)")
        "mov %[rest], %[n]\n\t"
        UNIGEN_KLOOP(5, 6, 7)
        "vbroadcastss %[alpha], %%zmm24\n\t"
        "vbroadcastss %[beta], %%zmm25\n\t"
        UNIGEN_STORE_ROW("(%[c])", 0, 1, 2, 3)
        UNIGEN_STORE_ROW("(%[c],%[ldc],1)", 4, 5, 6, 7)
        UNIGEN_STORE_ROW("(%[c],%[ldc],2)", 8, 9, 10, 11)
        UNIGEN_STORE_ROW("(%[c3])", 12, 13, 14, 15)
        UNIGEN_STORE_ROW("(%[c3],%[ldc],1)", 16, 17, 18, 19)
        UNIGEN_STORE_ROW("(%[c3],%[ldc],2)", 20, 21, 22, 23)
        "vzeroupper\n\t"
        : [a] "+r"(a), [a3] "+r"(a3), [b] "+r"(b), [n] "+r"(n)
        : [rsa] "r"(rsab), [csa] "r"(csab), [rest] "rm"(rest), [c] "r"(c), [c3] "r"(c3), [ldc] "r"(ldcb),
          [alpha] "m"(alpha), [beta] "m"(beta), [nobeta] "r"(nobeta)
        : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
          "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21",
          "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
  }
  // An edge tile (mr ≤ MR rows, nr ≤ NR columns of C at c) = alpha·(a·b) + beta·C, stored with masks.
  // Up to 48 columns wide it runs run_narrow on the panel's first 16, 32 or 48 columns (a quarter, half
  // or three quarters of run's multiply-adds, in the same order, so the same values), wider it runs run
  // into a local tile.
  __attribute__((target("avx512f,avx2,fma"))) static void edge(int64_t kc, const float* a, int64_t rsa, int64_t csa,
                                                               const float* b, int64_t mr, int64_t nr, float* c,
                                                               int64_t ldc, float alpha, float beta) {
    alignas(64) float tile[MR * NR];
    if (nr <= 16)
      run_narrow<1>(kc, a, rsa, csa, b, tile);
    else if (nr <= 32)
      run_narrow<2>(kc, a, rsa, csa, b, tile);
    else if (nr <= 48)
      run_narrow<3>(kc, a, rsa, csa, b, tile);
    else
      run(kc, a, rsa, csa, b, tile, NR, 1.0f, 0.0f);
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int64_t i = 0; i < mr; ++i)
      for (int64_t j = 0; j < nr; j += 16) {
        const __mmask16 m = nr - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (nr - j)) - 1);
        __m512 r = _mm512_mul_ps(va, _mm512_load_ps(tile + i * NR + j));
        if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, c + i * ldc + j), r);
        _mm512_mask_storeu_ps(c + i * ldc + j, m, r);
      }
  }
  // The first 16·V columns (V = 1, 2, 3) of the packed panel (row stride NR) against the MR rows of A, into
  // tile (row stride NR): MR·V accumulators.
  template <int V>
  __attribute__((target("avx512f,avx2,fma"))) static void run_narrow(int64_t kc, const float* a, int64_t rsa,
                                                                     int64_t csa, const float* b, float* tile) {
    __m512 acc[MR][V];
    for (auto& row : acc)
      for (auto& v : row) v = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; ++k, a += csa, b += NR) {
      __m512 bv[V];
      for (int v = 0; v < V; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
      for (int i = 0; i < MR; ++i) {
        const __m512 ai = _mm512_set1_ps(a[i * rsa]);
        for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
      }
    }
    for (int i = 0; i < MR; ++i)
      for (int v = 0; v < V; ++v) _mm512_store_ps(tile + i * NR + 16 * v, acc[i][v]);
  }
};

// The few-rows kernels (gemm_rows.inc: dot and axpy), compiled once per instruction set inside a struct
// that gives them its vectors. Each struct is defined under its own target by a pragma, which reaches the
// member templates as well (UNIGEN_TARGET_PUSH, cpu_features.hpp).
UNIGEN_TARGET_PUSH("avx512f,avx2,fma")
// 16 lanes; 24 accumulators of the 32 zmm registers.
struct Rows512 {
  using T = __m512;
  using Mask = __mmask16;
  static constexpr int lanes = 16, accumulators = 24;
  static Mask first(int64_t n) { return n >= 16 ? Mask(0xFFFF) : Mask((1u << n) - 1); }  // lanes 0..n-1
  static T zero() { return _mm512_setzero_ps(); }
  static T set1(float x) { return _mm512_set1_ps(x); }
  static T loadu(const float* p) { return _mm512_loadu_ps(p); }
  static T load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }  // lanes off m read as 0
  static void store(float* p, Mask m, T v) { _mm512_mask_storeu_ps(p, m, v); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  // Lane i: the sum of the lanes of v[i], for 16 vectors at once: each step adds halves of two vectors
  // into one (256-bit halves, 128-bit quarters, then pairs and single lanes within 128 bits), 31
  // shuffles where 16 single sums take 64. The shuffles are the zero-masked forms with every lane
  // selected (vec_math.hpp's all16 says why).
  static T hsums(const T* v) {
    constexpr __mmask16 all = 0xFFFF;
    T h[8], q[4], p[2];
    for (int i = 0; i < 8; ++i)  // h[i]: blocks 0-1 half sums of v[2i], blocks 2-3 of v[2i+1]
      h[i] = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(all, v[2 * i], v[2 * i + 1], 0x44),
                           _mm512_maskz_shuffle_f32x4(all, v[2 * i], v[2 * i + 1], 0xEE));
    for (int i = 0; i < 4; ++i)  // q[i]: block b a quarter sum of v[4i + b]
      q[i] = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(all, h[2 * i], h[2 * i + 1], 0x88),
                           _mm512_maskz_shuffle_f32x4(all, h[2 * i], h[2 * i + 1], 0xDD));
    for (int i = 0; i < 2; ++i)  // p[i]: block b lanes (x, y, x', y'): x + x' of v[8i + b], y + y' of v[8i + 4 + b]
      p[i] = _mm512_add_ps(_mm512_maskz_unpacklo_ps(all, q[2 * i], q[2 * i + 1]),
                           _mm512_maskz_unpackhi_ps(all, q[2 * i], q[2 * i + 1]));
    // lane 4b + l: the sum of v[b + 4l]; permuted to lane b + 4l
    const __m512d p0 = _mm512_castps_pd(p[0]), p1 = _mm512_castps_pd(p[1]);
    const T r = _mm512_add_ps(_mm512_castpd_ps(_mm512_maskz_unpacklo_pd(0xFF, p0, p1)),
                              _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(0xFF, p0, p1)));
    const __m512i lanes_of = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_maskz_permutexvar_ps(all, lanes_of, r);
  }
  // Lane i: lane i + o of v, for i < 16 - o (the lanes above are v's first ones).
  static T shift_down(T v, int o) {
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    return _mm512_maskz_permutexvar_ps(0xFFFF, _mm512_add_epi32(iota, _mm512_set1_epi32(o)), v);
  }
  // Rows per block for M rows (see gemm_detail::gemm_small_m): M itself up to 4, else 4 against a
  // transposed B; against an untransposed one (read once per row block) 8 when M is a multiple of 8, 4
  // for 5 rows, else 6. Measured on the Xeon in one process, alternating (2026-11-29, 1 thread, N×K
  // 768×256, 3072×768, 1024², 256×1024, 1000×300): 6-row blocks against 4 at M = 6 1.32-1.66× as fast,
  // M = 7 0.98-1.20×, M = 9-15 0.83-1.44× (8-row blocks slower there than either); 8 against 4 at M = 8
  // 0.84-1.55×, and against 6 at M = 16 0.94-1.23×.
  static constexpr int block_rows(bool tb, int64_t M) {
    return M <= 4 ? int(M) : tb || M == 5 ? 4 : M % 8 == 0 ? 8 : 6;
  }
#include "unigen/backend/cpu/gemm_rows.inc"
};
UNIGEN_TARGET_POP

UNIGEN_TARGET_PUSH("avx2,fma")
// 8 lanes; 12 accumulators of the 16 ymm registers.
struct Rows256 {
  using T = __m256;
  using Mask = __m256i;
  static constexpr int lanes = 8, accumulators = 12;
  static Mask first(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n < 8 ? n : 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static T zero() { return _mm256_setzero_ps(); }
  static T set1(float x) { return _mm256_set1_ps(x); }
  static T loadu(const float* p) { return _mm256_loadu_ps(p); }
  static T load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, Mask m, T v) { _mm256_maskstore_ps(p, m, v); }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  // Lane i: the sum of the lanes of v[i], for 8 vectors at once (as Rows512's): 15 shuffles where 8
  // single sums take 24.
  static T hsums(const T* v) {
    T h[4], p[2];
    for (int i = 0; i < 4; ++i)  // h[i]: block 0 half sums of v[2i], block 1 of v[2i+1]
      h[i] = _mm256_add_ps(_mm256_permute2f128_ps(v[2 * i], v[2 * i + 1], 0x20),
                           _mm256_permute2f128_ps(v[2 * i], v[2 * i + 1], 0x31));
    for (int i = 0; i < 2; ++i)  // p[i]: block b lanes (x, y, x', y'): x + x' of v[4i + b], y + y' of v[4i + 2 + b]
      p[i] = _mm256_add_ps(_mm256_unpacklo_ps(h[2 * i], h[2 * i + 1]), _mm256_unpackhi_ps(h[2 * i], h[2 * i + 1]));
    // lane 4b + l: the sum of v[b + 2l]; permuted to lane b + 2l
    const __m256d p0 = _mm256_castps_pd(p[0]), p1 = _mm256_castps_pd(p[1]);
    const T r =
        _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(p0, p1)), _mm256_castpd_ps(_mm256_unpackhi_pd(p0, p1)));
    return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  }
  // Lane i: lane i + o of v, for i < 8 - o (as Rows512's).
  static T shift_down(T v, int o) {
    return _mm256_permutevar8x32_ps(v,
                                    _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(o)));
  }
  // As Rows512's, within 12 accumulators and 16 registers: at most 3 rows against a transposed B (each
  // row's vector of A stays in a register); against an untransposed one 4 rows for 4, 5 and multiples of
  // 4, else 6.
  static constexpr int block_rows(bool tb, int64_t M) {
    return tb ? int(M < 3 ? M : 3) : M <= 4 ? int(M) : M == 5 || M % 4 == 0 ? 4 : 6;
  }
#include "unigen/backend/cpu/gemm_rows.inc"
};
UNIGEN_TARGET_POP
#undef UNIGEN_PRAGMA
#undef UNIGEN_TARGET_PUSH
#undef UNIGEN_TARGET_POP

#undef UNIGEN_FMA4
#undef UNIGEN_STEP
#undef UNIGEN_KLOOP
#undef UNIGEN_PREFETCH_ROW
#undef UNIGEN_STORE
#undef UNIGEN_STORE_ROW

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
