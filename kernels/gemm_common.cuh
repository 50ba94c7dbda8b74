#pragma once
// What every GEMM kernel shares: the parameter block and the epilogue that writes C.
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
      const float v0 = gemm_out(p, c, n, a0), v1 = gemm_out(p, c + 1, n + 1, a1);
      if constexpr (std::is_same_v<T, bf16_t>) *reinterpret_cast<__nv_bfloat162*>(c) = __floats2bfloat162_rn(v0, v1);
      else *reinterpret_cast<__half2*>(c) = __floats2half2_rn(v0, v1);
      return;
    }
  }
  gemm_store(p, C, m, n, a0);
  gemm_store(p, C, m, n + 1, a1);
}

}  // namespace unigen::cuda::kernels
