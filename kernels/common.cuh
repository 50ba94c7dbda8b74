#pragma once
// Shared helpers of the CUDA kernels: element types (float, bf16, fp16) converted to and from f32,
// warp reductions, argument checks. Included only under nvcc.
#if !defined(__CUDACC__)
#error "kernels/*.cuh are CUDA sources: include them only from translation units compiled by nvcc"
#endif

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "unigen/backend/cuda/runtime.hpp"

namespace unigen::cuda::kernels {

using bf16_t = __nv_bfloat16;
using f16_t = __half;

template <class T>
inline constexpr bool is_supported_v =
    std::is_same_v<T, float> || std::is_same_v<T, bf16_t> || std::is_same_v<T, f16_t>;

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(bf16_t x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f(f16_t x) { return __half2float(x); }

template <class T>
__device__ __forceinline__ T from_f(float x) {
  if constexpr (std::is_same_v<T, float>) return x;
  else if constexpr (std::is_same_v<T, bf16_t>) return __float2bfloat16_rn(x);
  else return __float2half_rn(x);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Combines two (max, sum of exp(x - max)) pairs of the online softmax.
__device__ __forceinline__ void online_merge(float& m, float& s, float m2, float s2) {
  const float mn = fmaxf(m, m2);
  if (mn == -INFINITY) return;  // both empty
  s = (m == -INFINITY ? 0.f : s * __expf(m - mn)) + (m2 == -INFINITY ? 0.f : s2 * __expf(m2 - mn));
  m = mn;
}
__device__ __forceinline__ void warp_online_reduce(float& m, float& s) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
    online_merge(m, s, m2, s2);
  }
}

// Sum over a block of blockDim.x threads (a multiple of 32, at most 1024); every thread gets the result.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float part[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = (blockDim.x + 31) / 32;
  v = warp_sum(v);
  __syncthreads();  // part[] may still be read by a previous call
  if (lane == 0) part[warp] = v;
  __syncthreads();
  v = lane < nw ? part[lane] : 0.f;
  return warp_sum(v);
}

// Online (max, sum) reduction over a block (blockDim.x a multiple of 32); every thread gets the result.
__device__ __forceinline__ void block_online_reduce(float& m, float& s) {
  __shared__ float pm[32], ps[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = (blockDim.x + 31) / 32;
  warp_online_reduce(m, s);
  __syncthreads();
  if (lane == 0) pm[warp] = m, ps[warp] = s;
  __syncthreads();
  m = -INFINITY, s = 0.f;
  for (int w = 0; w < nw; ++w) online_merge(m, s, pm[w], ps[w]);
}

// Row reductions for kernels that give a row either to one warp (BLOCK = false) or to a whole block.
template <bool BLOCK>
__device__ __forceinline__ float row_sum(float v) {
  if constexpr (BLOCK) return block_sum(v);
  else return warp_sum(v);
}
template <bool BLOCK>
__device__ __forceinline__ void row_online_reduce(float& m, float& s) {
  if constexpr (BLOCK) block_online_reduce(m, s);
  else warp_online_reduce(m, s);
}

// Rows up to this length get one warp each; longer rows a block of kRowBlockThreads.
constexpr int64_t kWarpRowMax = 1024;
constexpr int kRowBlockThreads = 256;

// Exact GELU (erf form), as unigen::gelu, and its derivative.
__device__ __forceinline__ float gelu_f(float x) { return 0.5f * x * (1.f + erff(x * 0.70710678118654752f)); }
__device__ __forceinline__ float gelu_grad_f(float x) {
  return 0.5f * (1.f + erff(x * 0.70710678118654752f)) + x * __expf(-0.5f * x * x) * 0.39894228040143268f;
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Grid size for n elements handled by `threads`-thread blocks in a grid-stride loop.
inline unsigned grid_for(int64_t n, int threads, int64_t cap = 65535LL * 32) {
  int64_t g = ceil_div(n, threads);
  if (g < 1) g = 1;
  return unsigned(g < cap ? g : cap);
}

}  // namespace unigen::cuda::kernels
