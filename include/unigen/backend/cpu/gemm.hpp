#pragma once
// Single-precision GEMM for the CPU backend (BLIS-style): C = alpha·op(A)·op(B) + beta·C (+ a bias row),
// row-major. Loops, outermost first:  pc (K in equal passes of at most KC) → jc (N by NC, pack the B
// block) → ir (MR rows of A: read in place, or packed when transposed or at the edge) → jr (NR columns)
// → micro-kernel (gemm_kernels.hpp).
// The micro-kernel is picked at run time from the CPU's features (or UNIGEN_CPU_KERNEL); OpenMP threads
// each take a rectangle of C and run that loop nest on it with their own packing buffers. A few rows of an
// untransposed A (a linear layer at inference) skip it on AVX-512 and AVX2: gemm_small_m.
#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "unigen/backend/cpu/cpu_features.hpp"
#include "unigen/backend/cpu/gemm_kernels.hpp"
#include "unigen/backend/cpu/strided.hpp"
#include "unigen/core/error.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif
#if __has_include(<unistd.h>)
#include <unistd.h>
#endif

namespace unigen::cpu {

namespace gemm_detail {

// The CPU's L2 cache per core in bytes (from the C library), or 1 MiB when it does not say.
inline int64_t l2_bytes() {
#ifdef _SC_LEVEL2_CACHE_SIZE
  if (const long v = sysconf(_SC_LEVEL2_CACHE_SIZE); v > 0) return v;
#endif
  return int64_t(1) << 20;
}

// Cache blocking (sizes in floats), set once from the CPU's L2 size.
//  KC = 512: the MR rows of A that every tile of a row panel reads (6·512·4 B = 12 KiB of L1) against
//      B micro-panels (KC·NR) streaming from L2. A long KC means few passes over C (each tile loads and
//      stores its C once per KC).
//  NC: the packed B block (KC·NC floats) fills half of L2, so the B micro-panels stream from L2 with
//      room left for A's rows and C. On this Xeon (2 MiB L2: NC = 512) a block twice that size
//      (NC = 1024, tuned on a Zen 4 whose L3 kept up with the overflow) ran 0.68-0.83× as fast on
//      1024², 2048² and N ≥ 1536; see docs/kernels.md.
// There is no MC: A needs no packed block (see macro_kernel).
struct Blocking {
  int64_t kc, nc;
};
template <class Kern>
Blocking blocking() {
  static const Blocking b = [] {
    constexpr int64_t kc = 512;
    const int64_t nc = l2_bytes() / 2 / (kc * int64_t(sizeof(float))) / Kern::NR * Kern::NR;
    return Blocking{kc, std::clamp<int64_t>(nc, Kern::NR, 4096)};
  }();
  return b;
}

// A 64-byte aligned float buffer that only grows; one per thread and operand, reused across calls (the
// few-rows K split keeps its partial products in the calling thread's first one).
struct PackBuffer {
  float* p = nullptr;
  size_t cap = 0;
  PackBuffer() = default;
  PackBuffer(const PackBuffer&) = delete;
  PackBuffer& operator=(const PackBuffer&) = delete;
  ~PackBuffer() { std::free(p); }
  float* get(size_t n) {
    if (n > cap) {
      std::free(p);
      const size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!p) {
        cap = 0;
        fail("sgemm: cannot allocate a packing buffer of ", bytes, " bytes");
      }
      cap = n;
    }
    return p;
  }
};
inline PackBuffer& pack_buffer(int which) {
  static thread_local PackBuffer buf[2];
  return buf[which];
}

// Packs `rows` rows × kc of op(A) (element (i, k) at a[i·lda + k], or a[k·lda + i] when trans) into
// ceil(rows/MR) panels out[panel][k][MR], rows past `rows` zero-filled.
template <int MR>
void pack_a(bool trans, const float* a, int64_t lda, int64_t rows, int64_t kc, float* out) {
  const int64_t full = trans ? rows / MR : 0;  // whole panels of a transposed A: per k, one run, MR to each
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t p = 0; p < full; ++p) std::memcpy(out + (p * kc + k) * MR, a + k * lda + p * MR, MR * sizeof(float));
  for (int64_t p = full; p * MR < rows; ++p)  // the rest element by element
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t r = 0; r < MR; ++r) {
        const int64_t i = p * MR + r;
        out[(p * kc + k) * MR + r] = i >= rows ? 0.0f : trans ? a[k * lda + i] : a[i * lda + k];
      }
}

// Panels of a transposed A packed per pass over its k rows: 8 panels of 6 rows read 3 whole 64-byte
// lines per k, where one panel read 24 bytes of a line that 2.67 panels share. Measured on the Xeon in
// one process alternating (2026-11-28, M×N×K, 1 thread): 1024×256×2592 and 1024² 1.25-1.26× as fast
// as packing one panel per pass, 768×256×2592 1.06×, 256×256×2592 and 256×1024×2592 1.02-1.03×
// (4 panels: the same; 16: slower).
constexpr int64_t a_group = 8;

// A transposed A is read in place (the kernel broadcasting from its k rows, csa = lda) instead of packed
// when the k rows of a pass span at most this many bytes and lda is not a multiple of 4 KiB (where every
// k row falls in one L1 set and a page of its own). Measured on the Xeon in one process, alternating
// with the packed path (2026-11-29, M×N×K, median of 15 rounds): AVX-512, 1 thread: 81×64×81 1.30×,
// 128×64×128 1.36×, 512×64×64 1.22×, 256³ 1.08×, 256×256×2592 1.08×, 768×256×2592 1.07×, 256×1024×2592
// 1.02×, 512³ 0.98×, 1000³ 1.03× (2 threads: 1.29×, 1.14×, 1.19×, 1.05×, 1.06×, 1.07×, 1.03×, 0.96×,
// 0.98×); with lda = 1024 (1024×256×2592, 1024³) 0.65-0.88×; with rows past 2 MiB 0.96-1.06×, but
// 2592×256×1024 0.80× on 2 threads. The AVX2 kernel (16 columns a tile: A's rows walked 4× as often)
// 1.03-1.16× up to 256 KiB, 0.78-0.96× from 0.4 to 2 MiB; so the limit goes by the tile's width.
template <class Kern>
constexpr int64_t ta_in_place_bytes = Kern::NR >= 64 ? int64_t(2) << 20 : int64_t(256) << 10;

// Packs the kc×nc block of op(B) at `b` (element (k, j) at b[k·ldb + j], or b[j·ldb + k] when trans)
// into panels of NR columns: out[panel][k][c], columns past nc zero-filled. out: kc·ceil(nc/NR)·NR floats.
// An untransposed B is copied row by row (each row read sequentially). A transposed one is copied in 8×8
// blocks, transposed in registers when `avx` (the caller runs a SIMD kernel, so the CPU has AVX2), 8 of
// its rows at a time: with a power-of-two ldb, more rows than the ways of an L1 set (8 on Zen 4) would
// evict each other before their lines were used up.
template <int NR, bool avx>
void pack_b(bool trans, const float* b, int64_t ldb, int64_t kc, int64_t nc, float* out) {
  for (int64_t k = 0; k < kc && !trans; ++k)
    for (int64_t j0 = 0; j0 < nc; j0 += NR) {
      const int64_t nr = std::min<int64_t>(NR, nc - j0);
      const float* src = b + k * ldb + j0;
      float* dst = out + j0 * kc + k * NR;
      if (nr == NR) {
        std::memcpy(dst, src, NR * sizeof(float));
      } else {
        for (int64_t c = 0; c < nr; ++c) dst[c] = src[c];
        for (int64_t c = nr; c < NR; ++c) dst[c] = 0.0f;
      }
    }
  for (int64_t j0 = 0; j0 < nc && trans; j0 += NR) {
    const int64_t nr = std::min<int64_t>(NR, nc - j0);
    float* dst = out + j0 * kc;
    for (int64_t c0 = 0; c0 < nr; c0 += 8) {  // 8-column blocks that hold columns of B
      int64_t k0 = 0;
#ifdef UNIGEN_GEMM_X86
      if (avx && c0 + 8 <= nr)
        for (; k0 + 8 <= kc; k0 += 8) gemm_kernels::transpose_8x8(b + (j0 + c0) * ldb + k0, ldb, dst + k0 * NR + c0, NR);
#endif
      for (; k0 < kc; k0 += 16)
        for (int64_t c = c0; c < c0 + 8; ++c)
          for (int64_t k = k0; k < std::min(k0 + 16, kc); ++k)
            dst[k * NR + c] = c < nr ? b[(j0 + c) * ldb + k] : 0.0f;
    }
    if (const int64_t c1 = (nr + 7) / 8 * 8; c1 < NR)  // the blocks past them, zeroed a row at a time
      for (int64_t k = 0; k < kc; ++k) std::fill(dst + k * NR + c1, dst + (k + 1) * NR, 0.0f);
  }
}

// C block (m×nc at c, row stride ldc) = alpha·op(A)[m×kc]·(packed B block) + beta·C, A's element (i, k)
// at a[i·lda + k] (a[k·lda + i] when trans). The micro-kernel reads full panels of an untransposed A in
// place: each of its MR rows is a contiguous run of kc floats, read once from memory and then from L1
// by every tile of the panel, so packing (a transposing copy) would only add work. A transposed A has a
// panel's column scattered over kc rows lda apart: read in place too while those rows stay within
// ta_in_place_bytes, else packed, a_group panels at a time (plain copies per k), as is the last, partial
// panel of either (zero-padded to MR rows). pa: a_group·MR·kc floats.
// Edge tiles: on AVX-512 Kern::edge (a narrower kernel for a narrow last column panel, masked stores);
// the other kernels compute them whole into a local tile and store only its valid part. bias: [nc] added
// to every row of the block (while its tile is in L1), or nullptr.
template <class Kern>
void macro_kernel(bool ta, int64_t m, int64_t nc, int64_t kc, float alpha, const float* a, int64_t lda, float* pa,
                  const float* pb, float beta, float* c, int64_t ldc, const float* bias) {
  constexpr int MR = Kern::MR, NR = Kern::NR;
  const int64_t tiles = (nc + NR - 1) / NR, lines = (kc + 15) / 16;
  const int64_t row_bytes = lda * int64_t(sizeof(float));  // between a transposed A's k rows
  const bool ta_in_place = ta && row_bytes % 4096 != 0 && kc * row_bytes <= ta_in_place_bytes<Kern>;
  for (int64_t i0 = 0; i0 < m; i0 += MR) {
    const int64_t mr = std::min<int64_t>(MR, m - i0);
    const float* ap = a + i0 * lda;
    int64_t rsa = lda, csa = 1;
    if (ta_in_place && mr == MR) {
      ap = a + i0, rsa = 1, csa = lda;
    } else if (ta && !ta_in_place) {
      const int64_t p = (i0 / MR) % a_group;  // this panel's place in its group
      if (p == 0) pack_a<MR>(true, a + i0, lda, std::min(a_group * MR, m - i0), kc, pa);
      ap = pa + p * MR * kc, rsa = 1, csa = MR;
    } else if (mr < MR) {
      pack_a<MR>(ta, ta ? a + i0 : ap, lda, mr, kc, pa);
      ap = pa, rsa = 1, csa = MR;
    }
    // While this panel's tiles run, the next panel's rows (read in place) are prefetched, a share per
    // tile: left to the hardware prefetcher, its 8 short streams start cold (+3% on the M = 2592 shapes).
    const bool prefetch = !ta && i0 + 2 * MR <= m;
    for (int64_t j0 = 0; j0 < nc; j0 += NR) {
      const int64_t nr = std::min<int64_t>(NR, nc - j0), t = j0 / NR;
      for (int64_t r = 0; r < MR && prefetch; ++r)
        for (int64_t l = lines * t / tiles; l < lines * (t + 1) / tiles; ++l)
          __builtin_prefetch(ap + (MR + r) * lda + 16 * l);
      const float* b = pb + j0 * kc;
      float* ct = c + i0 * ldc + j0;
      if (mr == MR && nr == NR) {
        Kern::run(kc, ap, rsa, csa, b, ct, ldc, alpha, beta);
      } else if constexpr (requires { &Kern::edge; }) {  // AVX-512
        Kern::edge(kc, ap, rsa, csa, b, mr, nr, ct, ldc, alpha, beta);
      } else {
        alignas(64) float tile[MR * NR];
        Kern::run(kc, ap, rsa, csa, b, tile, NR, 1.0f, 0.0f);
        for (int64_t i = 0; i < mr; ++i)
          for (int64_t j = 0; j < nr; ++j) {
            float& dst = ct[i * ldc + j];
            dst = beta == 0.0f ? alpha * tile[i * NR + j] : alpha * tile[i * NR + j] + beta * dst;
          }
      }
      for (int64_t i = 0; i < mr && bias; ++i)
        for (int64_t j = 0; j < nr; ++j) ct[i * ldc + j] += bias[j0 + j];
    }
  }
}

// One thread's GEMM on an M×N block of C (the operands and bias already offset to it), with K > 0.
template <class Kern>
void gemm_serial(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias) {
  constexpr int MR = Kern::MR, NR = Kern::NR;
  const Blocking bs = blocking<Kern>();
  // K in equal passes of at most KC: K = 2592 as 6 × 432 rather than 5 × 512 + 32, whose short last
  // pass loads and stores every C tile for 32 steps (the K = 2592 weight gradients 1.005-1.03× as fast).
  const int64_t passes = (K + bs.kc - 1) / bs.kc, kstep = (K + passes - 1) / passes;
  const int64_t ncmax = (std::min(bs.nc, N) + NR - 1) / NR * NR;  // whole panels, padding included
  float* pa = pack_buffer(0).get(size_t(a_group * MR * kstep));
  float* pb = pack_buffer(1).get(size_t(ncmax * kstep));
  for (int64_t p0 = 0; p0 < K; p0 += kstep) {
    const int64_t kc = std::min(kstep, K - p0);
    const float beta_p = p0 == 0 ? beta : 1.0f;
    for (int64_t j0 = 0; j0 < N; j0 += bs.nc) {
      const int64_t nc = std::min(bs.nc, N - j0);
      pack_b<NR, !std::is_same_v<Kern, gemm_kernels::Generic>>(tb, tb ? B + j0 * ldb + p0 : B + p0 * ldb + j0, ldb, kc, nc, pb);
      macro_kernel<Kern>(ta, M, nc, kc, alpha, ta ? A + p0 * lda : A + p0, lda, pa, pb, beta_p, C + j0, ldc,
                         bias && p0 == 0 ? bias + j0 : nullptr);
    }
  }
}

// C = beta·C (+ bias[j] on every row) on an M×N block (beta == 0 writes zeros without reading C).
inline void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc, const float* bias) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      C[i * ldc + j] = (beta == 0.0f ? 0.0f : beta * C[i * ldc + j]) + (bias ? bias[j] : 0.0f);
}

// The thread grid for an M×N product on nt threads: tm row blocks × tn column blocks, tm·tn = nt.
// Chosen to minimise the slowest thread's time per k, in cycles: its tiles (edge waste included; 16
// multiply-adds per cycle) + packing its columns of B (~1 per float) + its rows of A (~2 per float:
// packed when transposed; read in place otherwise, where each row panel's first tile waits on rows that
// come from L3, and a thread that owns fewer columns has fewer tiles to spread that over). So two
// threads split M unless N is much wider than M. Measured in one process, alternating the two splits
// (2026-11-27): splitting M was 1.06-1.11× as fast at N = 256 and 512 (M = 2592), 1.05× at 1024²,
// 1.01-1.08× at the other M = 2592 shapes up to N = 1024, and even (0.99-1.00×) at N = 1536, 2048 and
// 2048²; the weight gradients (transposed A, N = 256) 1.02-1.15×. That was the Zen 4 VM, whose cycle
// the 16 multiply-adds describe; on the Xeon (32 per cycle, 2026-11-28, 2 threads, best of 9
// alternating) the model's choice ran 0.97-1.02× as fast as the faster forced split on 8 shapes.
template <class Kern>
void thread_grid(int64_t M, int64_t N, int nt, int& tm, int& tn) {
  const int64_t mp = (M + Kern::MR - 1) / Kern::MR, np = (N + Kern::NR - 1) / Kern::NR;
  double best = -1;
  for (int t = 1; t <= nt; ++t) {
    if (nt % t) continue;
    const int64_t rows = (mp + t - 1) / t * Kern::MR, cols = (np + nt / t - 1) / (nt / t) * Kern::NR;
    const double cost = double(rows) * double(cols) / 16.0 + double(cols) + 2.0 * double(rows);
    if (best < 0 || cost < best) best = cost, tm = t, tn = nt / t;
  }
}

// sgemm on the chosen kernel with up to nt threads (arguments already checked, M, N, K > 0).
template <class Kern>
void gemm_parallel(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                   const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias, int nt) {
  // Below ~64³ multiply-adds per thread the fork costs more than it saves.
  const double work = double(M) * double(N) * double(K);
  nt = int(std::min<double>(nt, std::max(1.0, work / (64.0 * 64.0 * 64.0))));
  if (nt <= 1) {
    gemm_serial<Kern>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias);
    return;
  }
  int tm = 1, tn = 1;
  thread_grid<Kern>(M, N, nt, tm, tn);
  const int64_t mp = (M + Kern::MR - 1) / Kern::MR, np = (N + Kern::NR - 1) / Kern::NR;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static, 1)
#endif
  for (int t = 0; t < tm * tn; ++t) {
    // Split the MR-row panels and NR-column panels as evenly as possible; only the last block has an edge.
    const int r = t / tn, q = t % tn;
    const int64_t i0 = std::min(M, mp * r / tm * Kern::MR), i1 = std::min(M, mp * (r + 1) / tm * Kern::MR);
    const int64_t j0 = std::min(N, np * q / tn * Kern::NR), j1 = std::min(N, np * (q + 1) / tn * Kern::NR);
    if (i1 > i0 && j1 > j0)
      gemm_serial<Kern>(ta, tb, i1 - i0, j1 - j0, K, alpha, ta ? A + i0 : A + i0 * lda, lda,
                        tb ? B + j0 * ldb : B + j0, ldb, beta, C + i0 * ldc + j0, ldc, bias ? bias + j0 : nullptr);
  }
}

// Rows of C up to which a product with an untransposed A skips the packed path for gemm_small_m (both
// operands read in place), on the AVX-512 and AVX2 kernels. Measured on the Xeon in one process,
// alternating the two paths (1 thread; N×K from 256² to 3072×768). With a transposed B (2026-11-28): M = 1 2.8-5.3× as
// fast, M = 4 2.7-3.4×, M = 8 1.75-2.3×, M = 16 1.08-1.46×, M = 24 0.83-1.14×, M = 32 0.78-1.08×; on 2
// threads (256², 1024²) M = 16 1.07-1.55×, M = 24 0.82-1.14×. With an untransposed B (2026-11-29): M = 1
// 2.1-8.8×, M = 4 1.7-3.8×, M = 8 1.2-3.0×, M = 12 0.80-1.42×, M = 16 0.87-1.76×, M = 24 0.95-1.20×; on
// 2 threads M = 16 0.91-1.50×, M = 24 0.77-1.10×. The losses are where B (4 MiB and more) comes from L3.
// Forced to AVX2 (2026-11-29), against its packed path: M = 16 1.21-1.71× (B transposed) and 0.95-1.78×,
// M = 24 1.02-1.50× and 0.80-1.41×.
constexpr int64_t small_m_rows = 16;

#ifdef UNIGEN_GEMM_X86

// The last, partial column block against an untransposed B: n < 2·P·R::lanes columns of RM rows (A, B, C,
// bias at its first column) in pieces of P, P/2, ..., 1 vectors, only the last one masked.
template <class R, int RM, int P>
void axpy_tail(int64_t n, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
               float beta, float* C, int64_t ldc, const float* bias) {
  if (n > R::lanes * (P - 1)) {
    const int64_t w = std::min<int64_t>(n, R::lanes * P);
    R::template axpy<RM, P>(K, A, lda, B, ldb, w, C, ldc, alpha, beta, bias);
    B += w, C += w, bias = bias ? bias + w : nullptr, n -= w;
  }
  if (n > 0) axpy_tail<R, RM, (P > 1 ? P / 2 : 1)>(n, K, alpha, A, lda, B, ldb, beta, C, ldc, bias);
}

// Columns j0..j1 of RM rows of C (A, C at those rows) in blocks of CN units (rows of a transposed B, else
// vectors of R::lanes columns): R::dot against a transposed B, R::axpy against an untransposed one (a
// block of fewer than CN vectors by axpy_tail).
template <class R, int RM, int CN>
void small_m_block(bool tb, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
                   float beta, float* C, int64_t ldc, const float* bias, int64_t j0, int64_t j1) {
  const int64_t width = tb ? CN : R::lanes * CN;
  for (int64_t j = j0; j < j1; j += width) {
    const int64_t n = std::min(width, j1 - j);
    const float* bj = bias ? bias + j : nullptr;
    if (tb) {
      if constexpr (RM <= 4)  // R::block_rows gives a transposed B at most 4
        R::template dot<RM, CN>(K, A, lda, B + j * ldb, ldb, n, C + j, ldc, alpha, beta, bj);
    } else if (n > R::lanes * (CN - 1)) {
      R::template axpy<RM, CN>(K, A, lda, B + j, ldb, n, C + j, ldc, alpha, beta, bj);
    } else if constexpr (CN > 1) {
      axpy_tail<R, RM, int(std::bit_floor(unsigned(CN - 1)))>(n, K, alpha, A, lda, B + j, ldb, beta, C + j, ldc, bj);
    }
  }
}

// C = alpha·A·op(B) + beta·C (+ bias) for M <= small_m_rows, A [M,K] and B (op(B) = Bᵀ, B [N,K] when tb;
// else B [K,N]) read in place, with the few-rows kernels of R (gemm_kernels::Rows512 or Rows256): a
// linear layer on a few rows, where each packed float of B would serve only 2·M flops. Rows run in blocks
// of R::block_rows (the rest in one block of 4, 3, 2 or 1 rows) against R::accumulators / rows units of
// B. Each column block of B runs against all rows of A, so it is read from memory once and from L1/L2 by
// the other row blocks. Threads split N, or K when an untransposed B is larger than L2 (see below).
template <class R>
void gemm_small_m(bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias, int nt) {
  using std::integral_constant;
  const int rb = R::block_rows(tb, M);
  // One row of A against a transposed B larger than L2 (a decoding step's x·Wᵀ, B streaming from L3 or
  // memory), on AVX-512: two rows of B at a time instead of 24, so that B comes in nearly as one stream,
  // which the hardware prefetchers follow; 24 rows at once are 24 short streams (each its own page at K =
  // 1024). Against oneDNN in one run, 1 thread (2026-11-29): 1×1024² 0.87-0.91 with 24 rows, 0.97-0.98
  // with 2. With B in L2 the 24 rows win (1×768×256: 31 against 16-22 GFLOP/s), and from 2 rows of A on
  // they do at any size (3 rows: 37-42 against 30-36), since there the lane sums per C element count.
  // Forced to AVX2, 2 rows against its 12 ran level (0.92-1.05×), so AVX2 keeps 12.
  const bool two_rows = R::lanes == 16 && tb && rb == 1 && N * K * int64_t(sizeof(float)) > l2_bytes();
  const int64_t width = (tb ? 1 : R::lanes) * (two_rows ? 2 : R::accumulators / rb);
  const int64_t blocks = (N + width - 1) / width;
  // Columns j0..j1 and k0..k0+kn of the product (beta and bias on the first k only) for all rows, in
  // blocks of RB rows against CN units of B.
  auto rows = [&](auto rbc, int64_t j0, int64_t j1, int64_t k0, int64_t kn) {
    constexpr int RB = decltype(rbc)::value;
    // rm rows from i0 against cn units of B at a time (all: as many as the accumulators hold)
    const integral_constant<int, R::accumulators / RB> all;
    auto run = [&](auto rm, int64_t i0, auto cn) {
      small_m_block<R, decltype(rm)::value, decltype(cn)::value>(
          tb, kn, alpha, A + i0 * lda + k0, lda, B + (tb ? k0 : k0 * ldb), ldb, k0 == 0 ? beta : 1.0f,
          C + i0 * ldc, ldc, k0 == 0 ? bias : nullptr, j0, j1);
    };
    if constexpr (RB == 1) {
      if (two_rows) return run(rbc, 0, integral_constant<int, 2>());
    }
    int64_t i0 = 0;
    for (; i0 + RB <= M; i0 += RB) run(rbc, i0, all);
    if constexpr (RB > 4) {
      if (M - i0 >= 4) run(integral_constant<int, 4>(), i0, all), i0 += 4;
    }
    if constexpr (RB > 3) {
      if (M - i0 == 3) run(integral_constant<int, 3>(), i0, all);
    }
    if constexpr (RB > 2) {
      if (M - i0 == 2) run(integral_constant<int, 2>(), i0, all);
    }
    if constexpr (RB > 1) {
      if (M - i0 == 1) run(integral_constant<int, 1>(), i0, all);
    }
  };
  // A thread per 32 Ki multiply-adds at most: with nothing to pack, a second thread pays from about 40 Ki
  // (on 2 threads 1×256×256 1.29× and 1×768×256 1.71× as fast as on one; 2×128×128 0.91×).
  const double work = double(M) * double(N) * double(K);
  nt = int(std::min<double>({double(nt), double(blocks), std::max(1.0, work / 32768.0)}));
  // An untransposed B larger than L2, on several threads: they split K instead of N, so that each reads
  // whole rows of B, not N/nt-column pieces of them (on 2 threads, half of 1024² is 2 KiB per row). Thread
  // 0 writes C (beta and bias), the others their partial products into a buffer of the calling thread
  // ((nt − 1)·M·N floats, at most L2), then all add the partials into C. On 2 threads, in one process
  // (2026-11-29, M = 1-16; 1024², 1536×512, 2048×512, 768×1024, 1024×768, 3072×768), splitting K was
  // 0.94-1.91× as fast as splitting N; on B of 0.75 MiB (768×256) 0.81-0.92×, so those split N. The
  // sums then depend on the thread count (C's elements are added up in nt parts).
  if (!tb && nt > 1 && K * N * int64_t(sizeof(float)) > l2_bytes() && K >= 128 * nt &&
      (nt - 1) * M * N * int64_t(sizeof(float)) <= l2_bytes()) {
    float* partial = pack_buffer(0).get(size_t((nt - 1) * M * N));
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
    {
      const auto [t, n] = team_place();
      const int64_t k0 = K * t / n, k1 = K * (t + 1) / n;
      float* ct = t == 0 ? C : partial + (t - 1) * M * N;
      gemm_small_m<R>(false, M, N, k1 - k0, alpha, A + k0, lda, B + k0 * ldb, ldb, t == 0 ? beta : 0.0f, ct,
                      t == 0 ? ldc : N, t == 0 ? bias : nullptr, 1);
#ifdef _OPENMP
#pragma omp barrier
#endif
      for (int64_t e = M * N * t / n, e1 = M * N * (t + 1) / n; e < e1;) {  // this thread's share of C
        const int64_t i = e / N, j0 = e % N, j1 = std::min(N, j0 + (e1 - e));
        for (int p = 1; p < n; ++p) {
          const float* src = partial + (p - 1) * M * N + i * N;
          for (int64_t j = j0; j < j1; ++j) C[i * ldc + j] += src[j];
        }
        e += j1 - j0;
      }
    }
    return;
  }
  // An untransposed B whose share per thread is larger than L2 comes from L3 or memory, where a column
  // block's 64-192 bytes of each row, every row in another page, do not stream. There K runs in chunks of
  // 32 rows outside the column blocks, so each chunk's rows are read along as 32 streams, while the rows
  // of C (at most a quarter of L2: wider products in super-blocks of columns) come back from L2 once per
  // chunk: 1.07-1.53× as fast at M = 1-16, 1 thread; chunks of 16-64 rows and smaller B measured in
  // docs/kernels.md. With the column blocks outside, several row blocks take each block 256 of its rows
  // at a time: a whole block (K rows ldb apart, a power of two) would overflow its sets of L2 before the
  // next row block came back to it (M = 12 and 16, 1024² and 3072×768: 1.08-1.23× as fast).
  const bool by_k = !tb && K * (N / nt) * int64_t(sizeof(float)) > l2_bytes();  // a thread's share of B
  const int64_t kc = by_k ? 32 : !tb && M > rb ? 256 : K;
  const int64_t super = by_k ? std::max<int64_t>(1, l2_bytes() / 4 / (M * int64_t(sizeof(float))) / width) * width : N;
  auto part = [&](int t) {  // thread t's share of the column blocks
    const int64_t j0 = blocks * t / nt * width, j1 = std::min(N, blocks * (t + 1) / nt * width);
    auto run = [&](int64_t j, int64_t k0) {
      const int64_t je = std::min(j + width, j1), kn = std::min(kc, K - k0);
      switch (rb) {
        case 1: rows(integral_constant<int, 1>(), j, je, k0, kn); break;
        case 2: rows(integral_constant<int, 2>(), j, je, k0, kn); break;
        case 3: rows(integral_constant<int, 3>(), j, je, k0, kn); break;
        case 6: rows(integral_constant<int, 6>(), j, je, k0, kn); break;
        case 8: rows(integral_constant<int, 8>(), j, je, k0, kn); break;
        default: rows(integral_constant<int, 4>(), j, je, k0, kn);
      }
    };
    for (int64_t s0 = j0; s0 < j1; s0 += super) {
      const int64_t s1 = std::min(j1, s0 + super);
      if (by_k) {
        for (int64_t k0 = 0; k0 < K; k0 += kc)
          for (int64_t j = s0; j < s1; j += width) run(j, k0);
      } else {
        for (int64_t j = s0; j < s1; j += width)
          for (int64_t k0 = 0; k0 < K; k0 += kc) run(j, k0);
      }
    }
  };
  if (nt <= 1) {
    part(0);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static, 1)
#endif
  for (int t = 0; t < nt; ++t) part(t);
}
#endif

// Threads for one call: 1 inside any parallel region, else OpenMP's count. Inside an active region the
// caller already owns the cores; inside an inactive one (a team of 1, e.g. an `if` clause that came out
// false) a team of our own would be a nested team, whose threads libgomp creates and destroys on every
// call while the idle pool thread spins beside them.
inline int max_threads() {
#ifdef _OPENMP
  return omp_get_level() > 0 ? 1 : std::max(1, omp_get_max_threads());
#else
  return 1;
#endif
}

// Throws unigen::Error naming sgemm and the values when the arguments cannot describe valid matrices.
inline void check_args(const char* fn, bool ta, bool tb, int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb,
                       int64_t ldc) {
  check(M >= 0 && N >= 0 && K >= 0, fn, ": negative size M=", M, " N=", N, " K=", K);
  // A stored [M,K] ([K,M] when transposed): its row stride must cover a row (unless there is one row).
  const int64_t arows = ta ? K : M, acols = ta ? M : K, brows = tb ? N : K, bcols = tb ? K : N;
  check(arows <= 1 || lda >= acols, fn, ": lda=", lda, " < ", acols, " (transA=", ta, ", M=", M, ", K=", K, ")");
  check(brows <= 1 || ldb >= bcols, fn, ": ldb=", ldb, " < ", bcols, " (transB=", tb, ", K=", K, ", N=", N, ")");
  check(M <= 1 || ldc >= N, fn, ": ldc=", ldc, " < N=", N);
}

// sgemm on up to nt threads, arguments checked.
inline void sgemm_run(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                      const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias, int nt) {
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == 0.0f) {
    scale_c(M, N, beta, C, ldc, bias);
    return;
  }
  switch (cpu_kernel()) {
#ifdef UNIGEN_GEMM_X86
    case Isa::avx512:
      if (!ta && M <= small_m_rows)
        return gemm_small_m<gemm_kernels::Rows512>(tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, nt);
      return gemm_parallel<gemm_kernels::Avx512>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, nt);
    case Isa::avx2:
      if (!ta && M <= small_m_rows)
        return gemm_small_m<gemm_kernels::Rows256>(tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, nt);
      return gemm_parallel<gemm_kernels::Avx2>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, nt);
#endif
    default:
      return gemm_parallel<gemm_kernels::Generic>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, nt);
  }
}

}  // namespace gemm_detail

// C[M,N] = alpha·op(A)·op(B) + beta·C (+ bias), all row-major. op(A) is [M,K] (A stored [K,M] when transA),
// op(B) is [K,N] (B stored [N,K] when transB); lda/ldb/ldc are row strides in elements. beta == 0: C is not
// read. bias: [N] added to every row of C (a linear layer's bias, added while each tile is in L1), or
// nullptr. Runs on omp_get_max_threads() threads, or serially when called inside an OpenMP parallel
// region (even an inactive one).
inline void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                  const float* bias = nullptr) {
  gemm_detail::check_args("sgemm", transA, transB, M, N, K, lda, ldb, ldc);
  gemm_detail::sgemm_run(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias,
                         gemm_detail::max_threads());
}

// `batch` independent GEMMs as sgemm; operand i at A + i·strideA, B + i·strideB, C + i·strideC.
// A stride of 0 broadcasts that operand (strideC == 0 runs the products one after another into the same C).
inline void sgemm_batched(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                          int64_t lda, int64_t strideA, const float* B, int64_t ldb, int64_t strideB, float beta,
                          float* C, int64_t ldc, int64_t strideC, int64_t batch) {
  gemm_detail::check_args("sgemm_batched", transA, transB, M, N, K, lda, ldb, ldc);
  check(batch >= 0, "sgemm_batched: negative batch=", batch);
  const int nt = gemm_detail::max_threads();
  // Whole products per thread when there are enough of them to share evenly, else threads inside each.
  const bool over_batch = nt > 1 && strideC != 0 && (batch % nt == 0 || batch >= 4 * nt);
  if (!over_batch) {
    for (int64_t i = 0; i < batch; ++i)
      gemm_detail::sgemm_run(transA, transB, M, N, K, alpha, A + i * strideA, lda, B + i * strideB, ldb, beta,
                             C + i * strideC, ldc, nullptr, nt);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
  for (int64_t i = 0; i < batch; ++i)
    gemm_detail::sgemm_run(transA, transB, M, N, K, alpha, A + i * strideA, lda, B + i * strideB, ldb, beta,
                           C + i * strideC, ldc, nullptr, 1);
}

}  // namespace unigen::cpu
