#pragma once
// Hopper (sm_90a) bf16/fp16 GEMM on wgmma: warp-specialised and persistent. Each block (one per
// multiprocessor) walks a share of C's 128 x 128 tiles with three warpgroups: warpgroup 0 is the producer
// (one thread issues TMA copies of A's and B's k-tiles into a ring of stages in shared memory, 128-byte
// swizzled as wgmma's descriptors read them, running ahead into the block's next tile), warpgroups 1 and
// 2 consume (each multiplies 64 rows of A's tile with B's tile by wgmma.m64n128k16 into fp32 registers,
// frees a stage once its wgmma has completed, and writes its half of the tile while the producer already
// fills the ring for the next). Full and empty mbarriers per stage hand the stages back and forth. Both
// operand orders are read directly: a k-contiguous operand as K-major tiles, an m- or n-contiguous one as
// MN-major tiles (wgmma's transpose flag). Included by gemm.cuh; the kernel body exists only in sm_90a
// device code (elsewhere it traps, and the host never picks it: wgmma_support()).
#include <cuda.h>           // CUtensorMap (the encoder comes through the runtime: tensor_map_encoder())
#include <cudaTypedefs.h>  // PFN_cuTensorMapEncodeTiled

#include "kernels/gemm_common.cuh"

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define UNIGEN_HAVE_WGMMA 1
#endif

namespace unigen::cuda::kernels {

constexpr int kWgBM = 128, kWgBN = 128, kWgBK = 64, kWgThreads = 384;
// Bytes of one stage (A and B tiles of 128 x 64 16-bit values), the ring's stages (6: 192 KiB) and the
// kernel's dynamic shared memory (plus 1 KiB to align the ring to the 1024-byte swizzle atom).
constexpr int kWgStageBytes = (kWgBM + kWgBN) * kWgBK * 2, kWgStages = 6;
constexpr int kWgSmemBytes = kWgStages * kWgStageBytes + 1024;
constexpr int kWgGroupRows = 8;  // tiles run in groups of 8 tile rows, column by column (L2 reuse)

// Shared tile layouts, as TMA writes them with 128-byte swizzle (16-byte chunk index ^= row % 8 inside
// each 1024-byte atom of 8 rows x 128 bytes):
// - K-major tile (an operand stored with k contiguous): rows x kWgBK, one 128-byte row per m (or n).
// - MN-major tile (m or n contiguous): per 64-wide block of m (or n), kWgBK rows of k x 128 bytes
//   (8 KiB per block, blocks one after another).

// wgmma shared-memory matrix descriptor: start address, leading / stride byte offsets, 128-byte swizzle.
__device__ __forceinline__ uint64_t wg_desc(uint32_t saddr, uint32_t lbo, uint32_t sbo) {
  return uint64_t((saddr & 0x3FFFF) >> 4) | (uint64_t((lbo & 0x3FFFF) >> 4) << 16) |
         (uint64_t((sbo & 0x3FFFF) >> 4) << 32) | (uint64_t(1) << 62);
}

// Descriptor of the 16-deep k-slice ks (0..3) of an operand tile at shared address `tile`, starting at
// row/column `first` of its M or N extent (a multiple of 64).
template <bool MN_MAJOR>
__device__ __forceinline__ uint64_t wg_operand_desc(uint32_t tile, int first, int ks) {
  if constexpr (MN_MAJOR)  // k-slice = two 8-row atoms; MN blocks kWgBK·128 bytes apart (LBO), k atoms 1024 (SBO)
    return wg_desc(tile + uint32_t((first / 64) * (kWgBK * 128) + ks * 2048), kWgBK * 128, 1024);
  else  // k-slice = 32 bytes into each 128-byte row; 8-row atoms 1024 bytes apart (SBO); LBO unused
    return wg_desc(tile + uint32_t(first * 128 + ks * 32), 16, 1024);
}

// The wgmma instruction m64n128k16 (fp32 accumulators, scale-d = 1: d += A·B);
// TY is the PTX operand type, bf16 or f16; TA/TB (immediates) mark MN-major operands. Generated lists.
#define UNIGEN_WGMMA_N128(TY)                                                                   \
  asm volatile(                                                                                 \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                         \
      "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY " {"                                 \
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "  \
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "  \
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "  \
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"  \
      "}, %64, %65, p, 1, 1, %67, %68;\n}\n"                                  \
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),\
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),\
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),\
        "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),\
        "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),\
        "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),\
        "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),\
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])  \
      : "l"(da), "l"(db), "r"(1), "n"(TA), "n"(TB))

// d[0, 64) += A(64x16)·B(16x128) for one warpgroup; da, db: shared-memory descriptors.
template <class T, int TA, int TB>
__device__ __forceinline__ void wgmma_tile(float (&d)[64], uint64_t da, uint64_t db) {
#if defined(UNIGEN_HAVE_WGMMA)
  if constexpr (std::is_same_v<T, bf16_t>) UNIGEN_WGMMA_N128("bf16");
  else UNIGEN_WGMMA_N128("f16");
#else
  (void)d, (void)da, (void)db;
  __trap();
#endif
}

// Keeps the compiler from moving accumulator reads or writes across the asynchronous wgmma.
template <int N>
__device__ __forceinline__ void wg_fence_acc(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// wgmma's ordering instructions, mbarriers, TMA and setmaxnreg (empty outside sm_90a device code, which
// never runs them).
#if defined(UNIGEN_HAVE_WGMMA)
#define UNIGEN_SM90_ASM(...) asm volatile(__VA_ARGS__)
#else
#define UNIGEN_SM90_ASM(...) (void)0
#endif
__device__ __forceinline__ void wgmma_fence() { UNIGEN_SM90_ASM("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { UNIGEN_SM90_ASM("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
// Waits until at most N of this warpgroup's wgmma groups are pending.
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  UNIGEN_SM90_ASM("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// mbarriers (shared-memory barriers that also count the bytes a TMA copy delivers) and the TMA copy.
__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
  UNIGEN_SM90_ASM("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
// Arrives on bar and announces `bytes` that TMA copies will deliver to it in this phase.
__device__ __forceinline__ void mbar_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  UNIGEN_SM90_ASM("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  UNIGEN_SM90_ASM("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// Waits until the phase of bar with this parity has completed. A wait that never ends is a bug (a
// producer/consumer mismatch): after about 2^30 polls it traps, so the launch fails instead of hanging.
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
#if defined(UNIGEN_HAVE_WGMMA)
  for (uint32_t polls = 0;; ++polls) {
    uint32_t done = 0;
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
    if (done) return;
    if (polls == (1u << 30)) __trap();
  }
#else
  (void)bar, (void)parity;
#endif
}
// TMA: copies the box at coordinates (c0 innermost, c1, c2) of the tensor `map` into shared memory at
// dst, completing `bar`'s transaction count.
__device__ __forceinline__ void tma_load_3d(uint32_t dst, const CUtensorMap* map, int c0, int c1, int c2, uint32_t bar) {
  UNIGEN_SM90_ASM(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], [%5];\n" ::
          "r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(bar)
      : "memory");
}
// Register budgets of the producer and the consumer warpgroups (setmaxnreg; 128·40 + 256·232 ≤ 64 K).
template <int N>
__device__ __forceinline__ void setmaxnreg_dec() {
  UNIGEN_SM90_ASM("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N>
__device__ __forceinline__ void setmaxnreg_inc() {
  UNIGEN_SM90_ASM("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}
#undef UNIGEN_SM90_ASM

// Tile `tile` of a grid of mt x nt tiles per batch slice, in grouped order: kWgGroupRows tile rows are
// walked column by column, so that blocks running at once share A's rows and B's columns in L2.
__device__ __forceinline__ void wg_tile_coords(int64_t tile, int mt, int nt, int& m0, int& n0, int& z) {
  const int64_t per_slice = int64_t(mt) * nt;
  z = int(tile / per_slice);
  const int r = int(tile % per_slice), group = r / (kWgGroupRows * nt), first = group * kWgGroupRows;
  const int rows = ::min(mt - first, kWgGroupRows), in_group = r % (kWgGroupRows * nt);
  m0 = (first + in_group % rows) * kWgBM, n0 = (in_group / rows) * kWgBN;
}

// C = gelu?(alpha·op(A)·op(B) + beta·C + bias) over all tiles of C (batch slices included), the tiles
// shared round-robin among the blocks. map_a, map_b: TMA maps of A and B (make_operand_map); edges and
// the k tail are zero-filled by TMA.
template <class T, bool TA, bool TB>
__global__ void __launch_bounds__(kWgThreads, 1)
    wgmma_gemm_kernel(const __grid_constant__ CUtensorMap map_a, const __grid_constant__ CUtensorMap map_b,
                      GemmParams<T> p, int64_t batch) {
#if defined(UNIGEN_HAVE_WGMMA)
  constexpr bool A_MN = TA, B_MN = !TB;  // A stored [K, M] / B stored [K, N]: m or n contiguous
  constexpr int S = kWgStages;
  extern __shared__ uint8_t wg_smem[];
  __shared__ __align__(8) uint64_t bars[2 * S];  // full[0, S): tile landed; empty[S, 2S): stage free
  const uint32_t ring = (uint32_t(__cvta_generic_to_shared(wg_smem)) + 1023u) & ~1023u;
  const uint32_t full = uint32_t(__cvta_generic_to_shared(bars)), empty = full + 8 * S;
  const int tid = threadIdx.x, wg = tid / 128, ktiles = (p.K + kWgBK - 1) / kWgBK;
  const int mt = (p.M + kWgBM - 1) / kWgBM, nt = (p.N + kWgBN - 1) / kWgBN;
  const int64_t tiles = int64_t(mt) * nt * batch;
  if (tid == 0) {
    for (int s = 0; s < S; ++s) {
      mbar_init(full + 8 * s, 1);   // the producer's arrive (plus the TMA bytes)
      mbar_init(empty + 8 * s, 8);  // one arrive per consumer warp
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  // The ring's k-tiles are counted across the block's tiles: k-tile number `it` uses stage it % S in
  // that stage's (it / S)-th round.
  if (wg == 0) {  // producer
    setmaxnreg_dec<40>();
    if (tid != 0) return;
    uint32_t it = 0;
    for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
      int m0, n0, z;
      wg_tile_coords(tile, mt, nt, m0, n0, z);
      const int za = p.sA ? z : 0, zb = p.sB ? z : 0;  // a stride of 0 shares one operand across the batch
      for (int t = 0; t < ktiles; ++t, ++it) {
        const int s = int(it % S), k0 = t * kWgBK;
        if (it >= S) mbar_wait(empty + 8 * s, ((it / S) + 1) & 1);  // the consumers freed k-tile it - S
        const uint32_t bar = full + 8 * s, sa = ring + uint32_t(s * kWgStageBytes), sb = sa + kWgBM * kWgBK * 2;
        mbar_arrive_expect_tx(bar, kWgStageBytes);
        if constexpr (A_MN) {
          tma_load_3d(sa, &map_a, m0, k0, za, bar);
          tma_load_3d(sa + kWgBK * 128, &map_a, m0 + 64, k0, za, bar);
        } else {
          tma_load_3d(sa, &map_a, k0, m0, za, bar);
        }
        if constexpr (B_MN) {
          tma_load_3d(sb, &map_b, n0, k0, zb, bar);
          tma_load_3d(sb + kWgBK * 128, &map_b, n0 + 64, k0, zb, bar);
        } else {
          tma_load_3d(sb, &map_b, k0, n0, zb, bar);
        }
      }
    }
    return;
  }

  // consumers: warpgroup 1 takes rows [0, 64) of each tile, warpgroup 2 rows [64, 128)
  setmaxnreg_inc<232>();
  const int cw = wg - 1, warp = (tid % 128) / 32, lane = tid % 32;
  uint32_t it = 0;
  float acc[64];
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    int m0, n0, z;
    wg_tile_coords(tile, mt, nt, m0, n0, z);
#pragma unroll
    for (int i = 0; i < 64; ++i) acc[i] = 0.f;
    for (int t = 0; t < ktiles; ++t, ++it) {
      const int s = int(it % S);
      mbar_wait(full + 8 * s, (it / S) & 1);
      const uint32_t sa = ring + uint32_t(s * kWgStageBytes), sb = sa + kWgBM * kWgBK * 2;
      wg_fence_acc(acc);
      wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < kWgBK / 16; ++ks)
        wgmma_tile<T, A_MN, B_MN>(acc, wg_operand_desc<A_MN>(sa, cw * 64, ks), wg_operand_desc<B_MN>(sb, 0, ks));
      wgmma_commit();
      wgmma_wait<1>();  // k-tile it - 1's wgmma has completed: its stage goes back to the producer
      wg_fence_acc(acc);
      if (t > 0 && lane == 0) mbar_arrive(empty + 8 * ((it - 1) % S));
    }
    wgmma_wait<0>();
    wg_fence_acc(acc);
    if (ktiles > 0 && lane == 0) mbar_arrive(empty + 8 * ((it - 1) % S));  // the tile's last stage

    // Accumulator layout of m64n128: per 8-column block j, d[4j..4j+1] at (row, 2 columns),
    // d[4j+2..4j+3] 8 rows below; row = 16·warp + lane / 4, columns 8j + 2·(lane % 4).
    T* C = p.C + int64_t(z) * p.sC;
    const int m = m0 + cw * 64 + warp * 16 + lane / 4;
#pragma unroll
    for (int j = 0; j < kWgBN / 8; ++j) {
      const int n = n0 + j * 8 + (lane % 4) * 2;
      gemm_store2(p, C, m, n, acc[4 * j], acc[4 * j + 1]);
      gemm_store2(p, C, m + 8, n, acc[4 * j + 2], acc[4 * j + 3]);
    }
  }
#else
  (void)map_a, (void)map_b, (void)p, (void)batch;
  __trap();
#endif
}

// Whether the current device runs wgmma_gemm_kernel (an sm_90 device and a binary with sm_90a code),
// probed once per device; also gives the device's multiprocessor count. The probe is a template only so
// that, like every kernel here, it may be defined in each translation unit that includes this header.
template <int = 0>
__global__ void wgmma_probe_kernel(int* out) {
#if defined(UNIGEN_HAVE_WGMMA)
  *out = 1;
#else
  *out = 0;
#endif
}
struct WgmmaSupport {
  bool available = false;
  int sm_count = 0;
};
inline WgmmaSupport wgmma_support() {
  return per_device<WgmmaSupport>("cuda gemm (wgmma probe)", [](int dev) {
    WgmmaSupport w;
    int major = 0;
    check_cuda(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev), "cuda gemm (wgmma probe)");
    check_cuda(cudaDeviceGetAttribute(&w.sm_count, cudaDevAttrMultiProcessorCount, dev), "cuda gemm (wgmma probe)");
    if (major == 9) {
      DeviceBuffer<int> flag(1);
      wgmma_probe_kernel<><<<1, 1>>>(flag.data());
      // A binary without code for this device fails the launch: then the answer is no.
      w.available = cudaGetLastError() == cudaSuccess && flag.download()[0] == 1;
    }
    return w;
  });
}

// cuTensorMapEncodeTiled, from the driver through the runtime (no link against libcuda).
inline PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult q{};
    check_cuda(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q),
               "cuda gemm (TMA map)");
    unigen::check(f != nullptr && q == cudaDriverEntryPointSuccess, "cuda gemm: the driver has no cuTensorMapEncodeTiled");
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(f);
  }();
  return fn;
}

// TMA map of a 16-bit row-major operand [rows, cols] (row stride ld elements) with `batch` slices
// `stride` elements apart (0: one slice shared by all), read in boxes of 64 columns x box_rows rows with
// 128-byte swizzle. K == 0 never reads an operand: then the map stays empty.
template <class T>
CUtensorMap make_operand_map(const T* base, int64_t rows, int64_t cols, int64_t ld, int64_t stride, int64_t batch,
                             int box_rows) {
  CUtensorMap map{};
  if (rows == 0 || cols == 0) return map;
  const bool batched = batch > 1 && stride != 0;
  const cuuint64_t dims[3] = {cuuint64_t(cols), cuuint64_t(rows), cuuint64_t(batched ? batch : 1)};
  const cuuint64_t strides[2] = {cuuint64_t(ld) * 2, cuuint64_t(batched ? stride : ld * rows) * 2};
  const cuuint32_t box[3] = {64, cuuint32_t(box_rows), 1}, elem_strides[3] = {1, 1, 1};
  const CUresult r = tensor_map_encoder()(
      &map, std::is_same_v<T, bf16_t> ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 3,
      const_cast<T*>(base), dims, strides, box, elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
      CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  unigen::check(r == CUDA_SUCCESS, "cuda gemm: cuTensorMapEncodeTiled failed (error ", int(r), ") for an operand [",
                rows, ", ", cols, "], ld ", ld, ", batch ", batch, " x stride ", stride);
  return map;
}

// Launches the persistent wgmma kernel for `batch` slices (the operands' rows 16-byte aligned): one block
// per multiprocessor, or one per tile when there are fewer tiles.
template <class T, bool TA, bool TB>
void launch_wgmma_gemm(const GemmParams<T>& p, int64_t batch, cudaStream_t stream) {
  // A K-major operand is one box of all its tile's rows; an MN-major one is read 64 columns at a time.
  const CUtensorMap ma = TA ? make_operand_map(p.A, p.K, p.M, p.lda, p.sA, batch, kWgBK)
                            : make_operand_map(p.A, p.M, p.K, p.lda, p.sA, batch, kWgBM);
  const CUtensorMap mb = TB ? make_operand_map(p.B, p.N, p.K, p.ldb, p.sB, batch, kWgBN)
                            : make_operand_map(p.B, p.K, p.N, p.ldb, p.sB, batch, kWgBK);
  const int64_t tiles = ceil_div(p.M, kWgBM) * ceil_div(p.N, kWgBN) * batch;
  check_cuda(cudaFuncSetAttribute(wgmma_gemm_kernel<T, TA, TB>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  kWgSmemBytes),
             "cuda gemm (wgmma)");
  const int64_t blocks = std::min<int64_t>(tiles, wgmma_support().sm_count);
  wgmma_gemm_kernel<T, TA, TB><<<unsigned(blocks), kWgThreads, kWgSmemBytes, stream>>>(
      ma, mb, p, batch);
}

}  // namespace unigen::cuda::kernels
