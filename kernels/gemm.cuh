#pragma once
// GEMM: a tiled SIMT fp32 kernel; for bf16/fp16 with fp32 accumulation, a tensor-core kernel on
// mma.sync m16n8k16 (any sm_80+ device, any alignment) and, on sm_90a, the warp-specialised TMA + wgmma
// kernel of gemm_sm90.cuh (operand rows 16-byte aligned); all transpose combinations, strided batches,
// epilogue bias + GELU. cuBLAS is the selectable baseline (UNIGEN_GEMM=cublas, or GemmImpl::cublas).
#include <cublas_v2.h>

#include <cstdlib>
#include <cstring>

#include "kernels/gemm_sm90.cuh"

namespace unigen::cuda::kernels {

// hand: the best hand-written kernel for the device and operands (16-bit: wgmma on sm_90a when the
// operands' rows are 16-byte aligned, else mma.sync); mma: the mma.sync kernel even there (16-bit only;
// fp32 always runs the SIMT kernel); automatic: UNIGEN_GEMM=cublas or =mma selects those, else hand.
enum class GemmImpl { automatic, hand, mma, cublas };

// The implementation `automatic` resolves to now.
inline GemmImpl gemm_impl_from_env() {
  const char* s = std::getenv("UNIGEN_GEMM");
  if (s && std::strcmp(s, "cublas") == 0) return GemmImpl::cublas;
  if (s && std::strcmp(s, "mma") == 0) return GemmImpl::mma;
  return GemmImpl::hand;
}


constexpr int kSgBM = 128, kSgBN = 128, kSgBK = 8, kSgThreads = 256;

// 4 consecutive floats base[row·ld + col + i], zero outside [rows, cols]; one float4 load when allowed.
__device__ __forceinline__ void sg_load4(const float* base, int64_t ld, int row, int col, int rows, int cols,
                                         bool vec, float (&r)[4]) {
  if (vec && row < rows && col + 3 < cols) {
    const float4 v = *reinterpret_cast<const float4*>(base + int64_t(row) * ld + col);
    r[0] = v.x, r[1] = v.y, r[2] = v.z, r[3] = v.w;
    return;
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) r[i] = (row < rows && col + i < cols) ? base[int64_t(row) * ld + col + i] : 0.f;
}

// fp32 SIMT GEMM: 128x128 block tile, k-tile 8, 256 threads of 8x8 outputs each (register blocking),
// shared-memory tiles double-buffered with a register prefetch of the next k-tile.
template <bool TA, bool TB>
__global__ void __launch_bounds__(kSgThreads) sgemm_kernel(GemmParams<float> p) {
  __shared__ __align__(16) float As[2][kSgBK][kSgBM];
  __shared__ __align__(16) float Bs[2][kSgBK][kSgBN];
  const int64_t z = blockIdx.z;
  const float* A = p.A + z * p.sA;
  const float* B = p.B + z * p.sB;
  float* C = p.C + z * p.sC;
  const int bm = blockIdx.y * kSgBM, bn = blockIdx.x * kSgBN, tid = threadIdx.x;
  // Loader coordinates: each thread loads 4 consecutive values of A's and of B's tile.
  const int a_row = TA ? tid / 32 : tid / 2, a_col = TA ? (tid % 32) * 4 : (tid % 2) * 4;
  const int b_row = TB ? tid / 2 : tid / 32, b_col = TB ? (tid % 2) * 4 : (tid % 32) * 4;
  float ra[4], rb[4];
  auto load = [&](int k0) {
    if (TA) sg_load4(A, p.lda, k0 + a_row, bm + a_col, p.K, p.M, p.vec_a, ra);
    else sg_load4(A, p.lda, bm + a_row, k0 + a_col, p.M, p.K, p.vec_a, ra);
    if (TB) sg_load4(B, p.ldb, bn + b_row, k0 + b_col, p.N, p.K, p.vec_b, rb);
    else sg_load4(B, p.ldb, k0 + b_row, bn + b_col, p.K, p.N, p.vec_b, rb);
  };
  auto store = [&](int buf) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      if (TA) As[buf][a_row][a_col + i] = ra[i];
      else As[buf][a_col + i][a_row] = ra[i];
      if (TB) Bs[buf][b_col + i][b_row] = rb[i];
      else Bs[buf][b_row][b_col + i] = rb[i];
    }
  };
  const int tx = tid % 16, ty = tid / 16;
  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;
  const int ktiles = (p.K + kSgBK - 1) / kSgBK;
  if (ktiles > 0) {
    load(0);
    store(0);
  }
  __syncthreads();
  for (int t = 0; t < ktiles; ++t) {
    const int cur = t & 1;
    if (t + 1 < ktiles) load((t + 1) * kSgBK);
#pragma unroll
    for (int k = 0; k < kSgBK; ++k) {
      float a[8], b[8];
      const float4 a0 = *reinterpret_cast<const float4*>(&As[cur][k][ty * 4]);
      const float4 a1 = *reinterpret_cast<const float4*>(&As[cur][k][64 + ty * 4]);
      const float4 b0 = *reinterpret_cast<const float4*>(&Bs[cur][k][tx * 4]);
      const float4 b1 = *reinterpret_cast<const float4*>(&Bs[cur][k][64 + tx * 4]);
      a[0] = a0.x, a[1] = a0.y, a[2] = a0.z, a[3] = a0.w, a[4] = a1.x, a[5] = a1.y, a[6] = a1.z, a[7] = a1.w;
      b[0] = b0.x, b[1] = b0.y, b[2] = b0.z, b[3] = b0.w, b[4] = b1.x, b[5] = b1.y, b[6] = b1.z, b[7] = b1.w;
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    if (t + 1 < ktiles) store(cur ^ 1);
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int m = bm + (i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int n = bn + (j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4);
      gemm_store(p, C, m, n, acc[i][j]);
    }
  }
}

constexpr int kTcBM = 128, kTcBN = 128, kTcBK = 32, kTcPad = 8, kTcThreads = 256;

// 8 consecutive 16-bit values base[row·ld + col + i], zero outside [rows, cols], packed in a uint4.
template <class T>
__device__ __forceinline__ uint4 tc_load8(const T* base, int64_t ld, int row, int col, int rows, int cols, bool vec) {
  if (vec && row < rows && col + 7 < cols) return *reinterpret_cast<const uint4*>(base + int64_t(row) * ld + col);
  uint32_t w[4] = {0u, 0u, 0u, 0u};
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const uint32_t h = (row < rows && col + i < cols) ? bits16(base[int64_t(row) * ld + col + i]) : 0u;
    w[i / 2] |= h << (16 * (i % 2));
  }
  return make_uint4(w[0], w[1], w[2], w[3]);
}

// bf16/fp16 tensor-core GEMM: 128x128 block tile, k-tile 32, 8 warps of 64x32 (4x4 mma tiles each).
// Shared tiles keep the operand's contiguous dim contiguous (padded by 8 against bank conflicts):
// k-contiguous tiles are read with ldmatrix, m/n-contiguous ones (transposed A, plain B) with
// ldmatrix.trans. Double-buffered with a register prefetch of the next k-tile.
template <class T, bool TA, bool TB>
__global__ void __launch_bounds__(kTcThreads) hgemm_kernel(GemmParams<T> p) {
  constexpr int SA = TA ? kTcBM + kTcPad : kTcBK + kTcPad;  // row stride of A's tile ([k][m] or [m][k])
  constexpr int SB = TB ? kTcBK + kTcPad : kTcBN + kTcPad;  // row stride of B's tile ([n][k] or [k][n])
  constexpr int A_ELEMS = TA ? kTcBK * SA : kTcBM * SA, B_ELEMS = TB ? kTcBN * SB : kTcBK * SB;
  __shared__ __align__(16) T As[2][A_ELEMS];
  __shared__ __align__(16) T Bs[2][B_ELEMS];
  const int64_t z = blockIdx.z;
  const T* A = p.A + z * p.sA;
  const T* B = p.B + z * p.sB;
  T* C = p.C + z * p.sC;
  const int bm = blockIdx.y * kTcBM, bn = blockIdx.x * kTcBN, tid = threadIdx.x;
  const int lane = tid % 32, warp = tid / 32, warp_m = warp / 4, warp_n = warp % 4;
  uint4 ra[2], rb[2];
  // Each thread moves 2 vectors of 8 values of each operand per k-tile. A tile with k contiguous is
  // 128 rows x 4 vectors; one with m (or n) contiguous is 32 k-rows x 16 vectors.
  auto load = [&](int k0) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int v = tid + i * kTcThreads;
      if (TA) ra[i] = tc_load8(A, p.lda, k0 + v / 16, bm + (v % 16) * 8, p.K, p.M, p.vec_a);
      else ra[i] = tc_load8(A, p.lda, bm + v / 4, k0 + (v % 4) * 8, p.M, p.K, p.vec_a);
      if (TB) rb[i] = tc_load8(B, p.ldb, bn + v / 4, k0 + (v % 4) * 8, p.N, p.K, p.vec_b);
      else rb[i] = tc_load8(B, p.ldb, k0 + v / 16, bn + (v % 16) * 8, p.K, p.N, p.vec_b);
    }
  };
  auto store = [&](int buf) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int v = tid + i * kTcThreads;
      const int ar = TA ? v / 16 : v / 4, ac = TA ? (v % 16) * 8 : (v % 4) * 8;
      const int br = TB ? v / 4 : v / 16, bc = TB ? (v % 4) * 8 : (v % 16) * 8;
      *reinterpret_cast<uint4*>(&As[buf][ar * SA + ac]) = ra[i];
      *reinterpret_cast<uint4*>(&Bs[buf][br * SB + bc]) = rb[i];
    }
  };
  float acc[4][4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.f;
  const int ktiles = (p.K + kTcBK - 1) / kTcBK;
  if (ktiles > 0) {
    load(0);
    store(0);
  }
  __syncthreads();
  for (int t = 0; t < ktiles; ++t) {
    const int cur = t & 1;
    if (t + 1 < ktiles) load((t + 1) * kTcBK);
#pragma unroll
    for (int ks = 0; ks < kTcBK; ks += 16) {
      uint32_t af[4][4], bfr[2][4];
#pragma unroll
      for (int mi = 0; mi < 4; ++mi) {
        const int wm = warp_m * 64 + mi * 16;
        if (TA) {
          const int k = ks + lane % 8 + (lane / 16) * 8, m = wm + ((lane / 8) % 2) * 8;
          ldmatrix_x4(af[mi], &As[cur][k * SA + m], true);
        } else {
          const int m = wm + lane % 16, k = ks + (lane / 16) * 8;
          ldmatrix_x4(af[mi], &As[cur][m * SA + k], false);
        }
      }
#pragma unroll
      for (int nj = 0; nj < 2; ++nj) {
        const int wn = warp_n * 32 + nj * 16;
        if (TB) {
          const int n = wn + lane % 8 + (lane / 16) * 8, k = ks + ((lane / 8) % 2) * 8;
          ldmatrix_x4(bfr[nj], &Bs[cur][n * SB + k], false);
        } else {
          const int k = ks + lane % 8 + ((lane / 8) % 2) * 8, n = wn + (lane / 16) * 8;
          ldmatrix_x4(bfr[nj], &Bs[cur][k * SB + n], true);
        }
      }
#pragma unroll
      for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni)
          mma_16816<T>(acc[mi][ni], af[mi], bfr[ni / 2][(ni % 2) * 2], bfr[ni / 2][(ni % 2) * 2 + 1]);
    }
    if (t + 1 < ktiles) store(cur ^ 1);
    __syncthreads();
  }
  const int g = lane / 4, tq = lane % 4;
#pragma unroll
  for (int mi = 0; mi < 4; ++mi)
#pragma unroll
    for (int ni = 0; ni < 4; ++ni) {
      const int m = bm + warp_m * 64 + mi * 16 + g, n = bn + warp_n * 32 + ni * 8 + tq * 2;
      gemm_store2(p, C, m, n, acc[mi][ni][0], acc[mi][ni][1]);
      gemm_store2(p, C, m + 8, n, acc[mi][ni][2], acc[mi][ni][3]);
    }
}

// C[b][m, n] = gelu?(C[b][m, n] + bias[n]) over a [batch, M, N] strided output (the cuBLAS path's epilogue).
template <class T>
__global__ void bias_gelu_kernel(T* C, int64_t ldc, int64_t sC, int64_t batch, int64_t M, int64_t N, const T* bias,
                                 int gelu) {
  const int64_t total = batch * M * N;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i % N, m = (i / N) % M, b = i / (M * N);
    T* c = C + b * sC + m * ldc + n;
    float v = to_f(*c) + (bias ? to_f(bias[n]) : 0.f);
    *c = from_f<T>(gelu ? gelu_f(v) : v);
  }
}

inline const char* cublas_status_str(cublasStatus_t s) { return cublasGetStatusString(s); }

// One cuBLAS handle per device, created on first use (shared by all threads of the process).
inline cublasHandle_t cublas_handle() {
  return per_device<cublasHandle_t>("gemm(cublas)", [](int) {
    cublasHandle_t h = nullptr;
    const cublasStatus_t s = cublasCreate(&h);
    if (s != CUBLAS_STATUS_SUCCESS) fail("gemm(cublas): cublasCreate failed: ", cublas_status_str(s));
    return h;
  });
}

template <class T>
constexpr cudaDataType_t cuda_data_type() {
  if constexpr (std::is_same_v<T, float>) return CUDA_R_32F;
  else if constexpr (std::is_same_v<T, bf16_t>) return CUDA_R_16BF;
  else return CUDA_R_16F;
}

// Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: cuBLAS gets the operands swapped.
template <class T>
void gemm_cublas(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const T* A, int64_t lda,
                 int64_t sA, const T* B, int64_t ldb, int64_t sB, float beta, T* C, int64_t ldc, int64_t sC,
                 int64_t batch, cudaStream_t stream) {
  cublasHandle_t h = cublas_handle();
  cublasStatus_t s = cublasSetStream(h, stream);
  if (s == CUBLAS_STATUS_SUCCESS)
    s = cublasGemmStridedBatchedEx(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, int(N), int(M),
                                   int(K), &alpha, B, cuda_data_type<T>(), int(ldb), sB, A, cuda_data_type<T>(),
                                   int(lda), sA, &beta, C, cuda_data_type<T>(), int(ldc), sC, int(batch),
                                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (s != CUBLAS_STATUS_SUCCESS)
    fail("gemm(cublas): cublasGemmStridedBatchedEx failed: ", cublas_status_str(s), " (M ", M, ", N ", N, ", K ", K,
         ", batch ", batch, ")");
}

// The kernels gemm() can run.
enum class GemmKernel { simt, mma, wgmma, cublas };
inline const char* gemm_kernel_name(GemmKernel k) {
  switch (k) {
    case GemmKernel::simt: return "simt";
    case GemmKernel::mma: return "mma.sync";
    case GemmKernel::wgmma: return "wgmma";
    default: return "cublas";
  }
}

// Whether an operand's rows (and batch slices) start on 16-byte boundaries, as the vector loads need.
template <class T>
bool gemm_operand_aligned(const T* ptr, int64_t ld, int64_t stride, int64_t batch) {
  constexpr int64_t v = 16 / sizeof(T);
  return reinterpret_cast<uintptr_t>(ptr) % 16 == 0 && ld % v == 0 && (batch == 1 || stride % v == 0);
}

// The kernel gemm() runs with these operand alignments.
template <class T>
GemmKernel gemm_kernel_for(GemmImpl impl, bool a_aligned, bool b_aligned) {
  if (impl == GemmImpl::automatic) impl = gemm_impl_from_env();
  if (impl == GemmImpl::cublas) return GemmKernel::cublas;
  if constexpr (std::is_same_v<T, float>) return GemmKernel::simt;
  else if (impl == GemmImpl::mma || !a_aligned || !b_aligned || !wgmma_support().available) return GemmKernel::mma;
  else return GemmKernel::wgmma;
}

// C[b] = gelu?(alpha·op(A[b])·op(B[b]) + beta·C[b] + bias), row-major, b < batch.
// op(A): [M, K] (A stored [K, M] when ta), op(B): [K, N] (B stored [N, K] when tb), C: [M, N];
// X[b] = X + b·strideX; bias: [N] or nullptr; beta = 0 never reads C.
template <class T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const T* A, int64_t lda, int64_t strideA,
          const T* B, int64_t ldb, int64_t strideB, float beta, T* C, int64_t ldc, int64_t strideC, int64_t batch = 1,
          const T* bias = nullptr, bool gelu = false, cudaStream_t stream = current_stream(),
          GemmImpl impl = GemmImpl::automatic) {
  static_assert(is_supported_v<T>, "gemm: element type must be float, __nv_bfloat16 or __half");
  const char* op = "cuda gemm";
  unigen::check(M >= 0 && N >= 0 && K >= 0 && batch >= 1, op, ": bad sizes M ", M, ", N ", N, ", K ", K, ", batch ",
                batch);
  unigen::check(M < (int64_t(1) << 31) && N < (int64_t(1) << 31) && K < (int64_t(1) << 31), op,
                ": sizes must fit in 31 bits, got M ", M, ", N ", N, ", K ", K);
  if (M == 0 || N == 0) return;
  const int64_t a_cols = ta ? M : K, b_cols = tb ? K : N;
  unigen::check(lda >= std::max<int64_t>(1, a_cols) && ldb >= std::max<int64_t>(1, b_cols) && ldc >= N, op,
                ": leading dims too small: lda ", lda, " (needs ", a_cols, "), ldb ", ldb, " (needs ", b_cols,
                "), ldc ", ldc, " (needs ", N, ")");
  unigen::check(C != nullptr && (K == 0 || (A != nullptr && B != nullptr)), op, ": null pointer (A ", (const void*)A,
                ", B ", (const void*)B, ", C ", (const void*)C, ")");
  const bool a_aligned = gemm_operand_aligned(A, lda, strideA, batch), b_aligned = gemm_operand_aligned(B, ldb, strideB, batch);
  const GemmKernel kern = gemm_kernel_for<T>(impl, a_aligned, b_aligned);
  if (kern == GemmKernel::cublas) {
    unigen::check(lda < (int64_t(1) << 31) && ldb < (int64_t(1) << 31) && ldc < (int64_t(1) << 31) &&
                      batch < (int64_t(1) << 31),
                  op, "(cublas): leading dims and batch must fit in int");
    gemm_cublas<T>(ta, tb, M, N, K, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc, strideC, batch, stream);
    if (bias || gelu) {
      bias_gelu_kernel<T><<<grid_for(batch * M * N, 256), 256, 0, stream>>>(C, ldc, strideC, batch, M, N, bias,
                                                                             gelu ? 1 : 0);
      check_launch("cuda gemm (cublas bias/gelu epilogue)");
    }
    return;
  }
  GemmParams<T> p{int(M), int(N), int(K), A, lda, strideA, B, ldb, strideB, C, ldc, strideC, alpha, beta, bias,
                  gelu ? 1 : 0, a_aligned ? 1 : 0, b_aligned ? 1 : 0};
  if constexpr (!std::is_same_v<T, float>) {
    if (kern == GemmKernel::wgmma) {  // persistent: one launch covers every tile of every batch slice
      if (!ta && !tb) launch_wgmma_gemm<T, false, false>(p, batch, stream);
      else if (!ta && tb) launch_wgmma_gemm<T, false, true>(p, batch, stream);
      else if (ta && !tb) launch_wgmma_gemm<T, true, false>(p, batch, stream);
      else launch_wgmma_gemm<T, true, true>(p, batch, stream);
      check_launch(op);
      return;
    }
  }
  const int64_t bm = kern == GemmKernel::simt ? kSgBM : kTcBM, bn = kern == GemmKernel::simt ? kSgBN : kTcBN;
  unigen::check(ceil_div(M, bm) <= 65535, op, ": M ", M, " too large for the grid");
  for (int64_t b0 = 0; b0 < batch; b0 += 65535) {
    const int64_t nb = std::min<int64_t>(65535, batch - b0);
    GemmParams<T> q = p;
    q.A = A ? A + b0 * strideA : nullptr, q.B = B ? B + b0 * strideB : nullptr, q.C = C + b0 * strideC;
    const dim3 grid(unsigned(ceil_div(N, bn)), unsigned(ceil_div(M, bm)), unsigned(nb));
    if constexpr (std::is_same_v<T, float>) {
      if (!ta && !tb) sgemm_kernel<false, false><<<grid, kSgThreads, 0, stream>>>(q);
      else if (!ta && tb) sgemm_kernel<false, true><<<grid, kSgThreads, 0, stream>>>(q);
      else if (ta && !tb) sgemm_kernel<true, false><<<grid, kSgThreads, 0, stream>>>(q);
      else sgemm_kernel<true, true><<<grid, kSgThreads, 0, stream>>>(q);
    } else {
      if (!ta && !tb) hgemm_kernel<T, false, false><<<grid, kTcThreads, 0, stream>>>(q);
      else if (!ta && tb) hgemm_kernel<T, false, true><<<grid, kTcThreads, 0, stream>>>(q);
      else if (ta && !tb) hgemm_kernel<T, true, false><<<grid, kTcThreads, 0, stream>>>(q);
      else hgemm_kernel<T, true, true><<<grid, kTcThreads, 0, stream>>>(q);
    }
    check_launch(op);
  }
}

}  // namespace unigen::cuda::kernels
