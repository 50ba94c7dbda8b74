#pragma once
// Layer norm over the last dim, forward and backward (a warp per row up to 1024 columns, else a block),
// with the mean and 1/std of each row kept in fp32 for the backward pass. Register path (rows of up to
// 8192 columns, a multiple of the 16-byte vector, aligned; see RowRegs): each row read once into registers;
// general path: every pass reads the row from memory.
#include "kernels/softmax.cuh"

namespace unigen::cuda::kernels {

// p: [D] or nullptr -> v: the kVec<T> values from column c, or `fill` (1 for a null weight, 0 for a null bias).
template <class T>
__device__ __forceinline__ void load_vec_or(const T* p, int c, float fill, float (&v)[kVec<T>]) {
  if (p) load_vec(p + c, v);
  else
    for (float& e : v) e = fill;
}

// x: [rows, D] (row stride ld) -> y: [rows, D] (row stride ld); w, b: [D] or nullptr; mean, rstd: [rows] or nullptr.
// Register path: mean, then variance as a second pass over the registers.
template <class T, bool BLOCK>
__global__ void __launch_bounds__(kRowBlockThreads)
    layer_norm_forward_vec_kernel(const T* x, T* y, const T* w, const T* b, float* mean, float* rstd, int64_t ld,
                                  int64_t rows, int D, float eps) {
  int64_t row;
  int first, step;
  row_coords<BLOCK>(row, first, step);
  if (row >= rows) return;
  RowRegs<T> r(first, step, D);
  r.load(x + row * ld);
  float s = 0.f;
  r.each([&](int i, int k) { s += r(i, k); });
  const float m = row_sum<BLOCK>(s) / float(D);
  float v = 0.f;
  r.each([&](int i, int k) {
    const float d = r(i, k) - m;
    v += d * d;
  });
  const float rs = rsqrtf(row_sum<BLOCK>(v) / float(D) + eps);
  if (first == 0) {
    if (mean) mean[row] = m;
    if (rstd) rstd[row] = rs;
  }
#pragma unroll
  for (int i = 0; i < r.NV; ++i) {
    if (!r.has(i)) continue;
    float wv[r.V], bv[r.V];
    load_vec_or(w, r.col(i), 1.f, wv);
    load_vec_or(b, r.col(i), 0.f, bv);
#pragma unroll
    for (int k = 0; k < r.V; ++k) r(i, k) = (r(i, k) - m) * rs * wv[k] + bv[k];
  }
  r.store(y + row * ld);
}

// General path of the same contract.
template <class T, bool BLOCK>
__global__ void layer_norm_forward_kernel(const T* x, T* y, const T* w, const T* b, float* mean, float* rstd,
                                          int64_t ld, int64_t rows, int D, float eps) {
  int64_t row;
  int first, step;
  row_coords<BLOCK>(row, first, step);
  if (row >= rows) return;
  const T* xr = x + row * ld;
  T* yr = y + row * ld;
  float s = 0.f;
  for (int j = first; j < D; j += step) s += to_f(xr[j]);
  const float m = row_sum<BLOCK>(s) / float(D);
  float v = 0.f;
  for (int j = first; j < D; j += step) {
    const float d = to_f(xr[j]) - m;
    v += d * d;
  }
  const float r = rsqrtf(row_sum<BLOCK>(v) / float(D) + eps);
  if (first == 0) {
    if (mean) mean[row] = m;
    if (rstd) rstd[row] = r;
  }
  for (int j = first; j < D; j += step) {
    const float o = (to_f(xr[j]) - m) * r * (w ? to_f(w[j]) : 1.f) + (b ? to_f(b[j]) : 0.f);
    yr[j] = from_f<T>(o);
  }
}

// dx = rstd·(gy − mean(gy) − xhat·mean(gy·xhat)), gy = dy·w, for each row. Register path: x and dy read
// once, held as xhat and gy.
template <class T, bool BLOCK>
__global__ void __launch_bounds__(kRowBlockThreads)
    layer_norm_backward_dx_vec_kernel(const T* x, const T* dy, const T* w, const float* mean, const float* rstd,
                                      T* dx, int64_t ld, int64_t rows, int D) {
  int64_t row;
  int first, step;
  row_coords<BLOCK>(row, first, step);
  if (row >= rows) return;
  RowRegs<T> xh(first, step, D), gy(first, step, D);
  xh.load(x + row * ld);
  gy.load(dy + row * ld);
  const float m = mean[row], r = rstd[row];
  float s1 = 0.f, s2 = 0.f;
#pragma unroll
  for (int i = 0; i < xh.NV; ++i) {
    if (!xh.has(i)) continue;
    float wv[xh.V];
    load_vec_or(w, xh.col(i), 1.f, wv);
#pragma unroll
    for (int k = 0; k < xh.V; ++k) {
      xh(i, k) = (xh(i, k) - m) * r;
      gy(i, k) *= wv[k];
      s1 += gy(i, k);
      s2 += gy(i, k) * xh(i, k);
    }
  }
  s1 = row_sum<BLOCK>(s1) / float(D);
  s2 = row_sum<BLOCK>(s2) / float(D);
  gy.each([&](int i, int k) { gy(i, k) = r * (gy(i, k) - s1 - xh(i, k) * s2); });
  gy.store(dx + row * ld);
}

// General path of the same contract.
template <class T, bool BLOCK>
__global__ void layer_norm_backward_dx_kernel(const T* x, const T* dy, const T* w, const float* mean,
                                              const float* rstd, T* dx, int64_t ld, int64_t rows, int D) {
  int64_t row;
  int first, step;
  row_coords<BLOCK>(row, first, step);
  if (row >= rows) return;
  const T *xr = x + row * ld, *gr = dy + row * ld;
  const float m = mean[row], r = rstd[row];
  float s1 = 0.f, s2 = 0.f;
  for (int j = first; j < D; j += step) {
    const float gy = to_f(gr[j]) * (w ? to_f(w[j]) : 1.f), xh = (to_f(xr[j]) - m) * r;
    s1 += gy;
    s2 += gy * xh;
  }
  s1 = row_sum<BLOCK>(s1) / float(D);
  s2 = row_sum<BLOCK>(s2) / float(D);
  for (int j = first; j < D; j += step) {
    const float gy = to_f(gr[j]) * (w ? to_f(w[j]) : 1.f), xh = (to_f(xr[j]) - m) * r;
    dx[row * ld + j] = from_f<T>(r * (gy - s1 - xh * s2));
  }
}

constexpr int kLnColRows = 256;  // rows summed by one block before its atomicAdd

// dw[j] += Σ_rows dy·xhat, db[j] += Σ_rows dy over a chunk of rows per block (fp32, atomics).
template <class T>
__global__ void layer_norm_backward_dwdb_kernel(const T* x, const T* dy, const float* mean, const float* rstd,
                                                float* dw, float* db, int64_t ld, int64_t rows, int D) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= D) return;
  const int64_t r0 = int64_t(blockIdx.y) * kLnColRows, r1 = ::min(rows, r0 + int64_t(kLnColRows));
  float aw = 0.f, ab = 0.f;
  for (int64_t r = r0; r < r1; ++r) {
    const float g = to_f(dy[r * ld + j]);
    aw += g * (to_f(x[r * ld + j]) - mean[r]) * rstd[r];
    ab += g;
  }
  if (dw) atomicAdd(dw + j, aw);
  if (db) atomicAdd(db + j, ab);
}

inline void layer_norm_check(const char* op, int64_t rows, int64_t D, int64_t ld) {
  unigen::check(rows >= 0 && D >= 1 && D < (int64_t(1) << 31), op, ": bad shape [", rows, ", ", D, "]");
  unigen::check(ld >= D, op, ": row stride ", ld, " smaller than D ", D);
}

// x: [rows, D] -> y: [rows, D]; w, b: [D] (nullptr = 1 and 0); mean, rstd: [rows] fp32 (may be nullptr).
template <class T>
void layer_norm_forward(const T* x, T* y, const T* w, const T* b, float* mean, float* rstd, int64_t ld, int64_t rows,
                        int64_t D, float eps, cudaStream_t stream = current_stream()) {
  const char* op = "cuda layer_norm";
  layer_norm_check(op, rows, D, ld);
  unigen::check(rows == 0 || (x && y), op, ": null x or y");
  const bool vec = D % kVec<T> == 0 && vec_aligned<T>(x, ld) && vec_aligned<T>(y, ld) && vec_aligned<T>(w, 0) &&
                   vec_aligned<T>(b, 0);
  launch_rows<T>(op, rows, D, vec, stream, [&](auto block, auto vec_, unsigned g, int t, cudaStream_t s) {
    constexpr bool B = decltype(block)::value;
    if constexpr (decltype(vec_)::value)
      layer_norm_forward_vec_kernel<T, B><<<g, t, 0, s>>>(x, y, w, b, mean, rstd, ld, rows, int(D), eps);
    else
      layer_norm_forward_kernel<T, B><<<g, t, 0, s>>>(x, y, w, b, mean, rstd, ld, rows, int(D), eps);
  });
}

// x, dy: [rows, D], mean, rstd: [rows] from the forward -> dx: [rows, D]; dw, db: [D] fp32, overwritten
// (either may be nullptr).
template <class T>
void layer_norm_backward(const T* x, const T* dy, const T* w, const float* mean, const float* rstd, T* dx, float* dw,
                         float* db, int64_t ld, int64_t rows, int64_t D, cudaStream_t stream = current_stream()) {
  const char* op = "cuda layer_norm backward";
  layer_norm_check(op, rows, D, ld);
  unigen::check(rows == 0 || (x && dy && mean && rstd && dx), op, ": null pointer among x, dy, mean, rstd, dx");
  if (dw) check_cuda(cudaMemsetAsync(dw, 0, size_t(D) * sizeof(float), stream), op);
  if (db) check_cuda(cudaMemsetAsync(db, 0, size_t(D) * sizeof(float), stream), op);
  const bool vec = D % kVec<T> == 0 && vec_aligned<T>(x, ld) && vec_aligned<T>(dy, ld) && vec_aligned<T>(dx, ld) &&
                   vec_aligned<T>(w, 0);
  launch_rows<T>(op, rows, D, vec, stream, [&](auto block, auto vec_, unsigned g, int t, cudaStream_t s) {
    constexpr bool B = decltype(block)::value;
    if constexpr (decltype(vec_)::value)
      layer_norm_backward_dx_vec_kernel<T, B><<<g, t, 0, s>>>(x, dy, w, mean, rstd, dx, ld, rows, int(D));
    else
      layer_norm_backward_dx_kernel<T, B><<<g, t, 0, s>>>(x, dy, w, mean, rstd, dx, ld, rows, int(D));
  });
  if ((dw || db) && rows > 0) {
    unigen::check(ceil_div(rows, kLnColRows) <= 65535, op, ": too many rows for the dw/db grid (", rows, ")");
    const dim3 grid(unsigned(ceil_div(D, 128)), unsigned(ceil_div(rows, kLnColRows)));
    layer_norm_backward_dwdb_kernel<T><<<grid, 128, 0, stream>>>(x, dy, mean, rstd, dw, db, ld, rows, int(D));
    check_launch(op);
  }
}

}  // namespace unigen::cuda::kernels
