#pragma once
// What the GEMM kernels share (the parameter block, the epilogue that writes C) and the sm_80+ tensor-core
// helpers that the mma.sync GEMM and the attention kernels use (ldmatrix, mma.sync, cp.async).
#include "kernels/common.cuh"

namespace unigen::cuda::kernels {

template <class T>
struct GemmParams {
  int M, N, K;
  const T* A;
  int64_t lda, sA;
  const T* B;
  int64_t ldb, sB;
  T* C;
  int64_t ldc, sC;
  float alpha, beta;
  const T* bias;  // [N] or nullptr
  int gelu;
  int vec_a, vec_b;  // 16-byte vector loads allowed (alignment of pointer, ld and batch stride)
};

// The epilogue of one output: gelu?(alpha·acc + beta·C[m, n] + bias[n]); c points at C[m, n].
template <class T>
__device__ __forceinline__ float gemm_out(const GemmParams<T>& p, const T* c, int n, float acc) {
  float v = p.alpha * acc;
  if (p.beta != 0.f) v += p.beta * to_f(*c);
  if (p.bias) v += to_f(p.bias[n]);
  if (p.gelu) v = gelu_f(v);
  return v;
}

// Writes one output C[m, n] (gemm_out); outside [M, N] does nothing.
template <class T>
__device__ __forceinline__ void gemm_store(const GemmParams<T>& p, T* C, int m, int n, float acc) {
  if (m >= p.M || n >= p.N) return;
  T* c = C + int64_t(m) * p.ldc + n;
  *c = from_f<T>(gemm_out(p, c, n, acc));
}

// Writes C[m, n] and C[m, n + 1] (n even); one 4-byte store when both are inside and the pair is aligned
// (16-bit C, even ldc).
template <class T>
__device__ __forceinline__ void gemm_store2(const GemmParams<T>& p, T* C, int m, int n, float a0, float a1) {
  if constexpr (sizeof(T) == 2) {
    if (m < p.M && n + 1 < p.N && p.ldc % 2 == 0 && reinterpret_cast<uintptr_t>(C) % 4 == 0) {
      T* c = C + int64_t(m) * p.ldc + n;
      *reinterpret_cast<uint32_t*>(c) = pack2<T>(gemm_out(p, c, n, a0), gemm_out(p, c + 1, n + 1, a1));
      return;
    }
  }
  gemm_store(p, C, m, n, a0);
  gemm_store(p, C, m, n + 1, a1);
}

__device__ __forceinline__ unsigned short bits16(bf16_t x) { return __bfloat16_as_ushort(x); }
__device__ __forceinline__ unsigned short bits16(f16_t x) { return __half_as_ushort(x); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem, bool trans) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const uint32_t a = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  if (trans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
#else
  (void)r, (void)smem, (void)trans;
  __trap();
#endif
}

// c[16x8] += a[16x16] · b[16x8] in fp32 (one warp; fragments as in the PTX ISA's m16n8k16 layout).
template <class T>
__device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (std::is_same_v<T, bf16_t>)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  (void)c, (void)a, (void)b0, (void)b1;
  __trap();
#endif
}

// Copies 16 bytes from global g to shared address saddr, or zeros where src_bytes (0..16) stops short;
// asynchronous until cp_async_wait (sm_80+).
__device__ __forceinline__ void cp_async16(uint32_t saddr, const void* g, int src_bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(saddr), "l"(g), "r"(src_bytes) : "memory");
#else
  (void)saddr, (void)g, (void)src_bytes;
  __trap();
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
// Waits until at most N of this thread's cp.async groups are pending.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

}  // namespace unigen::cuda::kernels
