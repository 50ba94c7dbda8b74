#pragma once
// Fused scaled dot-product attention in the FlashAttention manner: K/V tiles are streamed through shared
// memory with an online softmax, so no [Tq, Tk] score matrix reaches global memory. Forward keeps the
// log-sum-exp of each row; backward recomputes the probabilities from it.
// Forward: on tensor cores (mma.sync, fp32 accumulation) for bf16/fp16 with head dim 64 or 128 and
// 16-byte aligned rows; SIMT fp32 arithmetic otherwise. Backward: SIMT fp32 arithmetic for every type.
#include "kernels/gemm_common.cuh"

namespace unigen::cuda::kernels {

// Where row `row` of batch slice bh (= b·H + h) of a tensor starts: b·sb + h·sh + row·sr (elements);
// the last dim is contiguous. [B, H, T, d] has (H·T·d, T·d, d); [B, T, H, d] has (T·H·d, d, H·d).
struct AttnStrides {
  int64_t sb = 0, sh = 0, sr = 0;
};

// Which keys query i of slice bh may see: key j is hidden when causal and j > i and j >= prefix
// (a prefix of `prefix` keys stays visible to all), or when mask[...] is 0. mask may be nullptr.
struct AttnMask {
  int causal = 0;
  int64_t prefix = 0;
  const uint8_t* mask = nullptr;  // element (bh, i, j) at (b·sb + h·sh + i·sr + j·sc); strides may be 0
  int64_t sb = 0, sh = 0, sr = 0, sc = 0;
};

template <class T>
struct AttnParams {
  const T *q, *k, *v;
  T* o;
  const T* dout;
  float* lse;  // [BH, Tq]
  int64_t BH, H;
  int Tq, Tk, d, dv;
  AttnStrides qs, ks, vs, os;
  float scale;
  AttnMask mask;
};

__device__ __forceinline__ int64_t attn_off(const AttnStrides& s, int64_t bh, int64_t H, int64_t row) {
  return (bh / H) * s.sb + (bh % H) * s.sh + row * s.sr;
}
__device__ __forceinline__ bool attn_allowed(const AttnMask& m, int64_t bh, int64_t H, int64_t i, int64_t j) {
  if (m.causal && j > i && j >= m.prefix) return false;
  if (m.mask) return m.mask[(bh / H) * m.sb + (bh % H) * m.sh + i * m.sr + j * m.sc] != 0;
  return true;
}

constexpr int kAttnKeys = 32, kAttnWarps = 4, kAttnRowsPerWarp = 4;
constexpr int kAttnRows = kAttnWarps * kAttnRowsPerWarp;  // query rows per forward block

// Loads rows [r0, r0 + nrows) of a [T, c] slice into a float tile of row stride `stride` (zero padding
// beyond T and beyond c, up to DMAX columns); all threads of the block take part.
template <class T, int DMAX>
__device__ __forceinline__ void attn_load_tile(float* tile, int stride, const T* base, const AttnStrides& st,
                                               int64_t bh, int64_t H, int r0, int nrows, int T_, int c) {
  for (int idx = threadIdx.x; idx < nrows * DMAX; idx += blockDim.x) {
    const int rr = idx / DMAX, cc = idx % DMAX, r = r0 + rr;
    tile[rr * stride + cc] = (r < T_ && cc < c) ? to_f(base[attn_off(st, bh, H, r) + cc]) : 0.f;
  }
}

// Forward: block (query tile of 16 rows, slice bh), 4 warps of 4 rows; lane j scores key kt + j of
// each 32-key tile, the warp keeps (max, sum, output row) per query row. o: [.., Tq, dv], lse: [BH, Tq].
template <class T, int DMAX>
__global__ void __launch_bounds__(kAttnWarps * 32) attention_forward_kernel(AttnParams<T> p) {
  constexpr int U = DMAX / 32;
  __shared__ float qt[kAttnRows][DMAX];
  __shared__ float kt_[kAttnKeys][DMAX + 1];
  __shared__ float vt[kAttnKeys][DMAX];
  const int64_t bh = blockIdx.y;
  const int q0 = blockIdx.x * kAttnRows, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  attn_load_tile<T, DMAX>(&qt[0][0], DMAX, p.q, p.qs, bh, p.H, q0, kAttnRows, p.Tq, p.d);
  float mrow[kAttnRowsPerWarp], lrow[kAttnRowsPerWarp], acc[kAttnRowsPerWarp][U];
#pragma unroll
  for (int r = 0; r < kAttnRowsPerWarp; ++r) {
    mrow[r] = -INFINITY, lrow[r] = 0.f;
#pragma unroll
    for (int u = 0; u < U; ++u) acc[r][u] = 0.f;
  }
  // Without a mask pointer, causal attention needs no key beyond the block's last query or the prefix.
  int kend = p.Tk;
  if (p.mask.causal && !p.mask.mask) kend = int(::min(int64_t(p.Tk), ::max(int64_t(q0 + kAttnRows), p.mask.prefix)));
  for (int k0 = 0; k0 < kend; k0 += kAttnKeys) {
    __syncthreads();  // the previous tile is consumed (and qt is loaded, on the first pass)
    attn_load_tile<T, DMAX>(&kt_[0][0], DMAX + 1, p.k, p.ks, bh, p.H, k0, kAttnKeys, p.Tk, p.d);
    attn_load_tile<T, DMAX>(&vt[0][0], DMAX, p.v, p.vs, bh, p.H, k0, kAttnKeys, p.Tk, p.dv);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kAttnRowsPerWarp; ++r) {
      const int rl = warp * kAttnRowsPerWarp + r, i = q0 + rl, j = k0 + lane;
      if (i >= p.Tq) continue;  // warp-uniform
      float s = -INFINITY;
      if (j < p.Tk && attn_allowed(p.mask, bh, p.H, i, j)) {
        float dot = 0.f;
#pragma unroll 16
        for (int c = 0; c < DMAX; ++c) dot = fmaf(qt[rl][c], kt_[lane][c], dot);
        s = dot * p.scale;
      }
      const float m_new = fmaxf(mrow[r], warp_max(s));
      if (m_new == -INFINITY) continue;  // nothing visible yet (warp-uniform)
      const float e = s == -INFINITY ? 0.f : __expf(s - m_new);
      const float corr = mrow[r] == -INFINITY ? 0.f : __expf(mrow[r] - m_new);
      lrow[r] = lrow[r] * corr + warp_sum(e);
      mrow[r] = m_new;
#pragma unroll
      for (int u = 0; u < U; ++u) acc[r][u] *= corr;
      for (int jj = 0; jj < kAttnKeys; ++jj) {
        const float pj = __shfl_sync(0xffffffffu, e, jj);
        if (pj == 0.f) continue;  // warp-uniform
#pragma unroll
        for (int u = 0; u < U; ++u) acc[r][u] = fmaf(pj, vt[jj][lane + 32 * u], acc[r][u]);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kAttnRowsPerWarp; ++r) {
    const int i = q0 + warp * kAttnRowsPerWarp + r;
    if (i >= p.Tq) continue;
    const float inv = lrow[r] > 0.f ? 1.f / lrow[r] : 0.f;
    T* orow = p.o + attn_off(p.os, bh, p.H, i);
#pragma unroll
    for (int u = 0; u < U; ++u)
      if (lane + 32 * u < p.dv) orow[lane + 32 * u] = from_f<T>(acc[r][u] * inv);
    if (lane == 0) p.lse[bh * p.Tq + i] = lrow[r] > 0.f ? mrow[r] + logf(lrow[r]) : -INFINITY;
  }
}

// Tensor-core forward (bf16/fp16, d = dv = D in {64, 128}): block = 64 query rows x one slice bh, 4 warps
// of 16 rows. Q's tile is read once into mma fragments; K/V tiles of 64 keys are double-buffered through
// shared memory by cp.async (rows padded by 8 halves: conflict-free ldmatrix). Per key tile a warp computes
// S = Q·Kᵀ (16 x 64, mma.sync m16n8k16), masks and scales it into log2 units, updates its rows' running
// max and sum, and adds P·V to its 16 x D output, P repacked from S's accumulators as bf16/fp16 A
// fragments. Thread (lane) holds rows lane / 4 and lane / 4 + 8 of its warp's 16.
constexpr int kAttnTcRows = 64, kAttnTcKeys = 64, kAttnTcThreads = 128;
template <int D>
constexpr int attn_tc_smem_bytes() {
  return (kAttnTcRows + 4 * kAttnTcKeys) * (D + 8) * 2;  // Q, 2 x K, 2 x V tiles of 16-bit values
}

template <class T, int D>
__global__ void __launch_bounds__(kAttnTcThreads) attention_forward_tc_kernel(AttnParams<T> p) {
  constexpr int RS = D + 8, KS = D / 16, NT = D / 8;  // smem row stride; k16 steps over d; n8 tiles of output
  extern __shared__ __align__(16) unsigned char attn_smem[];
  T* qt = reinterpret_cast<T*>(attn_smem);  // [64][RS]
  T* kt = qt + kAttnTcRows * RS;            // [2][64][RS]
  T* vt = kt + 2 * kAttnTcKeys * RS;        // [2][64][RS]
  const int64_t bh = blockIdx.y;
  const int q0 = blockIdx.x * kAttnTcRows, tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int g = lane / 4, tq = lane % 4;
  // Rows [r0, r0 + 64) of a [rows, D] slice -> tile (zeros beyond `rows`).
  auto load_tile = [&](T* tile, const T* base, const AttnStrides& st, int r0, int rows) {
    const T* slice = base + attn_off(st, bh, p.H, 0);
#pragma unroll
    for (int i = 0; i < 64 * D / 8 / kAttnTcThreads; ++i) {
      const int c = tid + i * kAttnTcThreads, r = c / (D / 8), col = (c % (D / 8)) * 8;
      const bool in = r0 + r < rows;
      cp_async16(uint32_t(__cvta_generic_to_shared(tile + r * RS + col)), in ? slice + int64_t(r0 + r) * st.sr + col : slice,
                 in ? 16 : 0);
    }
  };
  // Without a mask pointer, causal attention needs no key beyond the block's last query or the prefix.
  int kend = p.Tk;
  if (p.mask.causal && !p.mask.mask) kend = int(::min(int64_t(p.Tk), ::max(int64_t(q0 + kAttnTcRows), p.mask.prefix)));
  const int ntiles = (kend + kAttnTcKeys - 1) / kAttnTcKeys;
  load_tile(qt, p.q, p.qs, q0, p.Tq);
  if (ntiles > 0) {
    load_tile(kt, p.k, p.ks, 0, p.Tk);
    load_tile(vt, p.v, p.vs, 0, p.Tk);
  }
  cp_async_commit();

  const float sl2 = p.scale * 1.4426950408889634f;  // scores in log2 units: exp(x) = exp2(x·log2 e)
  uint32_t qf[KS][4];
  float o[NT][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
#pragma unroll
  for (int j = 0; j < NT; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;
  const bool plain = !p.mask.causal && !p.mask.mask;
  for (int t = 0; t < ntiles; ++t) {
    __syncthreads();  // every warp is done with tile t - 1, whose buffers take tile t + 1
    if (t + 1 < ntiles) {
      load_tile(kt + ((t + 1) % 2) * kAttnTcKeys * RS, p.k, p.ks, (t + 1) * kAttnTcKeys, p.Tk);
      load_tile(vt + ((t + 1) % 2) * kAttnTcKeys * RS, p.v, p.vs, (t + 1) * kAttnTcKeys, p.Tk);
    }
    cp_async_commit();
    cp_async_wait<1>();  // tile t (and Q) landed
    __syncthreads();
    if (t == 0)
#pragma unroll
      for (int ks = 0; ks < KS; ++ks) ldmatrix_x4(qf[ks], qt + (warp * 16 + lane % 16) * RS + ks * 16 + (lane / 16) * 8, false);
    const T* kb = kt + (t % 2) * kAttnTcKeys * RS;
    const T* vb = vt + (t % 2) * kAttnTcKeys * RS;
    const int k0 = t * kAttnTcKeys;

    float sc[8][4];
#pragma unroll
    for (int j = 0; j < 8; ++j) sc[j][0] = sc[j][1] = sc[j][2] = sc[j][3] = 0.f;
#pragma unroll
    for (int ks = 0; ks < KS; ++ks)
#pragma unroll
      for (int nb = 0; nb < 4; ++nb) {  // keys nb·16 .. nb·16 + 15 (K rows, d contiguous: no transpose)
        uint32_t b[4];
        ldmatrix_x4(b, kb + (nb * 16 + lane % 8 + (lane / 16) * 8) * RS + ks * 16 + ((lane / 8) % 2) * 8, false);
        mma_16816<T>(sc[2 * nb], qf[ks], b[0], b[1]);
        mma_16816<T>(sc[2 * nb + 1], qf[ks], b[2], b[3]);
      }
    // Scale; hide keys past Tk and masked ones (element e of tile j: row g + 8·(e / 2), key 8j + 2tq + e % 2).
    if (plain && k0 + kAttnTcKeys <= p.Tk) {
#pragma unroll
      for (int j = 0; j < 8; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) sc[j][e] *= sl2;
    } else {
#pragma unroll
      for (int j = 0; j < 8; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int i = q0 + warp * 16 + g + 8 * (e / 2), key = k0 + 8 * j + 2 * tq + e % 2;
          const bool ok = key < p.Tk && (i >= p.Tq || attn_allowed(p.mask, bh, p.H, i, key));
          sc[j][e] = ok ? sc[j][e] * sl2 : -INFINITY;
        }
    }
    // Online softmax per row r (0: row g, 1: row g + 8); the four lanes of a quad share a row.
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = -INFINITY;
#pragma unroll
      for (int j = 0; j < 8; ++j) mx = fmaxf(mx, fmaxf(sc[j][2 * r], sc[j][2 * r + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_new = fmaxf(m[r], mx), m_use = m_new == -INFINITY ? 0.f : m_new;  // all hidden so far: p = 0
      const float corr = exp2f(m[r] - m_use);
      m[r] = m_new;
      float sum = 0.f;
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        sc[j][2 * r] = exp2f(sc[j][2 * r] - m_use);
        sc[j][2 * r + 1] = exp2f(sc[j][2 * r + 1] - m_use);
        sum += sc[j][2 * r] + sc[j][2 * r + 1];
      }
      l[r] = l[r] * corr + sum;  // this lane's share; the quad's shares are added at the end
#pragma unroll
      for (int j = 0; j < NT; ++j) o[j][2 * r] *= corr, o[j][2 * r + 1] *= corr;
    }
    // O += P·V over the tile's four 16-key slices; V rows are keys, d contiguous: ldmatrix.trans.
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      const uint32_t a[4] = {pack2<T>(sc[2 * kk][0], sc[2 * kk][1]), pack2<T>(sc[2 * kk][2], sc[2 * kk][3]),
                             pack2<T>(sc[2 * kk + 1][0], sc[2 * kk + 1][1]),
                             pack2<T>(sc[2 * kk + 1][2], sc[2 * kk + 1][3])};
#pragma unroll
      for (int np = 0; np < NT / 2; ++np) {
        uint32_t b[4];
        ldmatrix_x4(b, vb + (kk * 16 + lane % 8 + ((lane / 8) % 2) * 8) * RS + np * 16 + (lane / 16) * 8, true);
        mma_16816<T>(o[2 * np], a, b[0], b[1]);
        mma_16816<T>(o[2 * np + 1], a, b[2], b[3]);
      }
    }
  }
  cp_async_wait<0>();

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float lsum = l[r];
    lsum += __shfl_xor_sync(0xffffffffu, lsum, 1);
    lsum += __shfl_xor_sync(0xffffffffu, lsum, 2);
    const int i = q0 + warp * 16 + g + 8 * r;
    if (i >= p.Tq) continue;
    const float inv = lsum > 0.f ? 1.f / lsum : 0.f;
    T* orow = p.o + attn_off(p.os, bh, p.H, i);
#pragma unroll
    for (int j = 0; j < NT; ++j)
      *reinterpret_cast<uint32_t*>(orow + j * 8 + 2 * tq) = pack2<T>(o[j][2 * r] * inv, o[j][2 * r + 1] * inv);
    if (tq == 0) p.lse[bh * p.Tq + i] = lsum > 0.f ? m[r] * 0.69314718055994531f + logf(lsum) : -INFINITY;
  }
}

// D[bh, i] = Σ_c dout[bh, i, c]·o[bh, i, c] (one warp per row).
template <class T>
__global__ void attention_backward_dot_kernel(AttnParams<T> p, float* D) {
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= p.BH * p.Tq) return;
  const int64_t bh = row / p.Tq, i = row % p.Tq, off = attn_off(p.os, bh, p.H, i);
  float s = 0.f;
  for (int c = threadIdx.x % 32; c < p.dv; c += 32) s += to_f(p.dout[off + c]) * to_f(p.o[off + c]);
  s = warp_sum(s);
  if (threadIdx.x % 32 == 0) D[row] = s;
}

// Backward: block (key tile of 32, slice bh); its K/V tile and dK/dV accumulators stay in shared memory
// while the 4 warps walk the query rows (one row per warp at a time). Lane j: p = exp(s − lse),
// ds = p·(do·v_j − D); dV_j += p·do, dK_j += scale·ds·q (shared atomics), dQ += scale·ds·k_j (global atomics, fp32).
template <class T, int DMAX>
__global__ void __launch_bounds__(kAttnWarps * 32) attention_backward_kernel(AttnParams<T> p, const float* D,
                                                                             float* dq_acc, T* dk, T* dv) {
  constexpr int U = DMAX / 32, S = DMAX + 1;
  extern __shared__ float smem[];
  float* kt_ = smem;                                // [32][S]
  float* vt = kt_ + kAttnKeys * S;                  // [32][S]
  float* dks = vt + kAttnKeys * S;                  // [32][DMAX]
  float* dvs = dks + kAttnKeys * DMAX;              // [32][DMAX]
  float* rowbuf = dvs + kAttnKeys * DMAX;           // [warps][2][DMAX]: q row, do row
  const int64_t bh = blockIdx.y;
  const int k0 = blockIdx.x * kAttnKeys, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  attn_load_tile<T, DMAX>(kt_, S, p.k, p.ks, bh, p.H, k0, kAttnKeys, p.Tk, p.d);
  attn_load_tile<T, DMAX>(vt, S, p.v, p.vs, bh, p.H, k0, kAttnKeys, p.Tk, p.dv);
  for (int idx = threadIdx.x; idx < 2 * kAttnKeys * DMAX; idx += blockDim.x) dks[idx] = 0.f;  // dks and dvs
  __syncthreads();
  float* qw = rowbuf + warp * 2 * DMAX;
  float* dow = qw + DMAX;
  int i0 = 0;
  if (p.mask.causal && !p.mask.mask && k0 >= p.mask.prefix) i0 = k0;  // earlier rows see none of these keys
  for (int i = i0 + warp; i < p.Tq; i += kAttnWarps) {
    const float l = p.lse[bh * p.Tq + i];
    if (l == -INFINITY) continue;  // the row sees nothing: no gradient
    const int64_t qoff = attn_off(p.qs, bh, p.H, i), ooff = attn_off(p.os, bh, p.H, i);
    for (int c = lane; c < DMAX; c += 32) {
      qw[c] = c < p.d ? to_f(p.q[qoff + c]) : 0.f;
      dow[c] = c < p.dv ? to_f(p.dout[ooff + c]) : 0.f;
    }
    __syncwarp();
    const int j = k0 + lane;
    float pr = 0.f, ds = 0.f;
    if (j < p.Tk && attn_allowed(p.mask, bh, p.H, i, j)) {
      float s = 0.f, dp = 0.f;
#pragma unroll 16
      for (int c = 0; c < DMAX; ++c) {
        s = fmaf(qw[c], kt_[lane * S + c], s);
        dp = fmaf(dow[c], vt[lane * S + c], dp);
      }
      pr = __expf(s * p.scale - l);
      ds = pr * (dp - D[bh * p.Tq + i]);
    }
    float dqr[U];
#pragma unroll
    for (int u = 0; u < U; ++u) dqr[u] = 0.f;
    for (int jj = 0; jj < kAttnKeys; ++jj) {
      const float pj = __shfl_sync(0xffffffffu, pr, jj), dsj = __shfl_sync(0xffffffffu, ds, jj);
      if (pj == 0.f && dsj == 0.f) continue;  // warp-uniform
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int c = lane + 32 * u;
        atomicAdd(&dvs[jj * DMAX + c], pj * dow[c]);
        atomicAdd(&dks[jj * DMAX + c], dsj * qw[c]);
        dqr[u] = fmaf(dsj, kt_[jj * S + c], dqr[u]);
      }
    }
    float* dqrow = dq_acc + (bh * p.Tq + i) * int64_t(p.d);
#pragma unroll
    for (int u = 0; u < U; ++u)
      if (lane + 32 * u < p.d && dqr[u] != 0.f) atomicAdd(dqrow + lane + 32 * u, p.scale * dqr[u]);
    __syncwarp();  // qw/dow are rewritten for the next row
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < kAttnKeys * DMAX; idx += blockDim.x) {
    const int jj = idx / DMAX, c = idx % DMAX, j = k0 + jj;
    if (j >= p.Tk) continue;
    if (c < p.d) dk[attn_off(p.ks, bh, p.H, j) + c] = from_f<T>(p.scale * dks[idx]);
    if (c < p.dv) dv[attn_off(p.vs, bh, p.H, j) + c] = from_f<T>(dvs[idx]);
  }
}

// dq[bh, i, c] (strides of q) = dq_acc[bh, i, c] (dense fp32 [BH, Tq, d]).
template <class T>
__global__ void attention_dq_store_kernel(const float* dq_acc, T* dq, AttnStrides qs, int64_t BH, int64_t H, int Tq,
                                          int d) {
  const int64_t total = BH * Tq * d;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = idx % d, i = (idx / d) % Tq, bh = idx / (int64_t(d) * Tq);
    dq[attn_off(qs, bh, H, i) + c] = from_f<T>(dq_acc[idx]);
  }
}

// Smallest supported head-dim bound for d and dv (32, 64 or 128); 0 when larger.
inline int attention_dmax(int64_t d, int64_t dv) {
  const int64_t m = std::max(d, dv);
  return m <= 32 ? 32 : m <= 64 ? 64 : m <= 128 ? 128 : 0;
}

template <class T>
void attention_check(const char* op, const AttnParams<T>& p) {
  unigen::check(p.BH >= 1 && p.H >= 1 && p.BH % p.H == 0, op, ": BH ", p.BH, " must be a positive multiple of H ",
                p.H);
  unigen::check(p.BH <= 65535, op, ": BH ", p.BH, " exceeds the grid's 65535 slices");
  unigen::check(p.Tq >= 1 && p.Tk >= 1 && p.d >= 1 && p.dv >= 1, op, ": bad sizes Tq ", p.Tq, ", Tk ", p.Tk, ", d ",
                p.d, ", dv ", p.dv);
  unigen::check(attention_dmax(p.d, p.dv) != 0, op, ": head dims d ", p.d, ", dv ", p.dv, " above 128 are not supported");
  unigen::check(p.q && p.k && p.v && p.o && p.lse, op, ": null pointer among q, k, v, o, lse");
  unigen::check(p.scale > 0.f, op, ": scale ", p.scale, " must be positive");
  unigen::check(p.mask.prefix >= 0, op, ": negative prefix ", p.mask.prefix);
}

// q: [B, H, Tq, d], k: [B, H, Tk, d], v: [B, H, Tk, dv] (any layout through the strides, BH = B·H) ->
// o: [B, H, Tq, dv], lse: [BH, Tq] fp32 (dense); set p.q, k, v, o, lse, sizes, strides, scale, mask.
// Whether attention_forward takes the tensor-core kernel for p: 16-bit types, d = dv in {64, 128}, and every
// row of q, k, v, o 16-byte aligned (base pointers, and each stride a multiple of 8 elements).
template <class T>
bool attention_uses_tensor_cores(const AttnParams<T>& p) {
  if constexpr (std::is_same_v<T, float>) return false;
  else {
    auto aligned = [](const T* ptr, const AttnStrides& s) {
      return reinterpret_cast<uintptr_t>(ptr) % 16 == 0 && s.sb % 8 == 0 && s.sh % 8 == 0 && s.sr % 8 == 0;
    };
    return p.d == p.dv && (p.d == 64 || p.d == 128) && aligned(p.q, p.qs) && aligned(p.k, p.ks) && aligned(p.v, p.vs) &&
           aligned(p.o, p.os);
  }
}

// q: [B, H, Tq, d], k: [B, H, Tk, d], v: [B, H, Tk, dv] (any layout through the strides, BH = B·H) ->
// o: [B, H, Tq, dv], lse: [BH, Tq] fp32 (dense); set p.q, k, v, o, lse, sizes, strides, scale, mask.
template <class T>
void attention_forward(const AttnParams<T>& p, cudaStream_t stream = current_stream()) {
  const char* op = "cuda attention forward";
  attention_check(op, p);
  if constexpr (!std::is_same_v<T, float>) {
    if (attention_uses_tensor_cores(p)) {
      const dim3 grid(unsigned(ceil_div(p.Tq, kAttnTcRows)), unsigned(p.BH));
      auto launch = [&](auto kernel, int smem) {
        check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem), op,
                   "cudaFuncSetAttribute (shared memory)");
        kernel<<<grid, kAttnTcThreads, smem, stream>>>(p);
      };
      if (p.d == 64) launch(attention_forward_tc_kernel<T, 64>, attn_tc_smem_bytes<64>());
      else launch(attention_forward_tc_kernel<T, 128>, attn_tc_smem_bytes<128>());
      check_launch(op);
      return;
    }
  }
  const dim3 grid(unsigned(ceil_div(p.Tq, kAttnRows)), unsigned(p.BH));
  switch (attention_dmax(p.d, p.dv)) {
    case 32: attention_forward_kernel<T, 32><<<grid, kAttnWarps * 32, 0, stream>>>(p); break;
    case 64: attention_forward_kernel<T, 64><<<grid, kAttnWarps * 32, 0, stream>>>(p); break;
    default: attention_forward_kernel<T, 128><<<grid, kAttnWarps * 32, 0, stream>>>(p); break;
  }
  check_launch(op);
}

template <class T, int DMAX>
void attention_backward_launch(const AttnParams<T>& p, const float* D, float* dq_acc, T* dk, T* dv,
                               cudaStream_t stream) {
  const size_t smem = sizeof(float) * (2 * kAttnKeys * (DMAX + 1) + 2 * kAttnKeys * DMAX + kAttnWarps * 2 * DMAX);
  check_cuda(cudaFuncSetAttribute(attention_backward_kernel<T, DMAX>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  int(smem)),
             "cuda attention backward", "cudaFuncSetAttribute (shared memory)");
  const dim3 grid(unsigned(ceil_div(p.Tk, kAttnKeys)), unsigned(p.BH));
  attention_backward_kernel<T, DMAX><<<grid, kAttnWarps * 32, smem, stream>>>(p, D, dq_acc, dk, dv);
}

// From the forward's p (with o and lse filled) and p.dout (strides of o) -> dq, dk, dv with the strides
// of q, k, v (overwritten). Uses fp32 workspace of BH·Tq·(d + 1) floats from the caching allocator.
template <class T>
void attention_backward(const AttnParams<T>& p, T* dq, T* dk, T* dv, cudaStream_t stream = current_stream()) {
  const char* op = "cuda attention backward";
  attention_check(op, p);
  unigen::check(p.dout && dq && dk && dv, op, ": null pointer among dout, dq, dk, dv");
  StreamGuard guard(stream);
  const int64_t rows = p.BH * p.Tq;
  DeviceBuffer<float> D{size_t(rows)}, dq_acc{size_t(rows * p.d)};
  dq_acc.zero();
  attention_backward_dot_kernel<T><<<unsigned(ceil_div(rows, 8)), 256, 0, stream>>>(p, D.data());
  check_launch(op);
  switch (attention_dmax(p.d, p.dv)) {
    case 32: attention_backward_launch<T, 32>(p, D.data(), dq_acc.data(), dk, dv, stream); break;
    case 64: attention_backward_launch<T, 64>(p, D.data(), dq_acc.data(), dk, dv, stream); break;
    default: attention_backward_launch<T, 128>(p, D.data(), dq_acc.data(), dk, dv, stream); break;
  }
  check_launch(op);
  attention_dq_store_kernel<T><<<grid_for(rows * p.d, 256), 256, 0, stream>>>(dq_acc.data(), dq, p.qs, p.BH, p.H,
                                                                              p.Tq, p.d);
  check_launch(op);
}

}  // namespace unigen::cuda::kernels
