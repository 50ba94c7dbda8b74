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
#include <cstring>
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

// Sum (MAX = false) or max (MAX = true) over a block of blockDim.x threads (a multiple of 32, at most 1024);
// every thread gets the result.
template <bool MAX>
__device__ __forceinline__ float block_reduce(float v) {
  __shared__ float part[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = (blockDim.x + 31) / 32;
  v = MAX ? warp_max(v) : warp_sum(v);
  __syncthreads();  // part[] may still be read by a previous call
  if (lane == 0) part[warp] = v;
  __syncthreads();
  v = lane < nw ? part[lane] : (MAX ? -INFINITY : 0.f);
  return MAX ? warp_max(v) : warp_sum(v);
}
__device__ __forceinline__ float block_sum(float v) { return block_reduce<false>(v); }

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
__device__ __forceinline__ float row_max(float v) {
  if constexpr (BLOCK) return block_reduce<true>(v);
  else return warp_max(v);
}
template <bool BLOCK>
__device__ __forceinline__ void row_online_reduce(float& m, float& s) {
  if constexpr (BLOCK) block_online_reduce(m, s);
  else warp_online_reduce(m, s);
}

// 16-byte vectors: kVec<T> elements (4 fp32, 8 bf16/fp16) moved by one 128-bit load or store.
template <class T>
inline constexpr int kVec = 16 / int(sizeof(T));

__device__ __forceinline__ float2 to_f2(__nv_bfloat162 x) { return __bfloat1622float2(x); }
__device__ __forceinline__ float2 to_f2(__half2 x) { return __half22float2(x); }

// p: kVec<T> elements, 16-byte aligned -> v: the same as floats (one 128-bit load).
template <class T>
__device__ __forceinline__ void load_vec(const T* p, float (&v)[kVec<T>]) {
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  if constexpr (std::is_same_v<T, float>) {
    v[0] = __uint_as_float(u.x), v[1] = __uint_as_float(u.y), v[2] = __uint_as_float(u.z), v[3] = __uint_as_float(u.w);
  } else {
    using T2 = std::conditional_t<std::is_same_v<T, bf16_t>, __nv_bfloat162, __half2>;
    T2 e[4];
    memcpy(e, &u, sizeof(u));
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 f = to_f2(e[k]);
      v[2 * k] = f.x, v[2 * k + 1] = f.y;
    }
  }
}

// Two floats rounded to T (bf16 or fp16) and packed in 32 bits, a in the low half: two adjacent elements as
// memory holds them, and a register of an mma fragment.
template <class T>
__device__ __forceinline__ uint32_t pack2(float a, float b) {
  uint32_t r;
  if constexpr (std::is_same_v<T, bf16_t>) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
    memcpy(&r, &h, 4);
  } else {
    const __half2 h = __floats2half2_rn(a, b);
    memcpy(&r, &h, 4);
  }
  return r;
}

// v: kVec<T> floats -> p (16-byte aligned), rounded to T two at a time (one 128-bit store).
template <class T>
__device__ __forceinline__ void store_vec(T* p, const float (&v)[kVec<T>]) {
  if constexpr (std::is_same_v<T, float>)
    *reinterpret_cast<uint4*>(p) =
        make_uint4(__float_as_uint(v[0]), __float_as_uint(v[1]), __float_as_uint(v[2]), __float_as_uint(v[3]));
  else
    *reinterpret_cast<uint4*>(p) =
        make_uint4(pack2<T>(v[0], v[1]), pack2<T>(v[2], v[3]), pack2<T>(v[4], v[5]), pack2<T>(v[6], v[7]));
}

// Whether rows at p with row stride ld (elements of T) start on 16-byte boundaries; nullptr passes.
template <class T>
inline bool vec_aligned(const void* p, int64_t ld) {
  return p == nullptr || (reinterpret_cast<uintptr_t>(p) % 16 == 0 && ld % kVec<T> == 0);
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
