#pragma once
// Row softmax and log_softmax, forward and backward: one warp per row up to 1024 columns, one block
// per row beyond; the max and the sum come from one online pass, the output from a second.
#include "kernels/common.cuh"

namespace unigen::cuda::kernels {

// Row index and this thread's first column / column step, for a warp-per-row or block-per-row kernel.
template <bool BLOCK>
__device__ __forceinline__ void row_coords(int64_t& row, int& first, int& step) {
  if constexpr (BLOCK) {
    row = blockIdx.x, first = threadIdx.x, step = blockDim.x;
  } else {
    row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32, first = threadIdx.x % 32, step = 32;
  }
}

// x: [rows, n] (row stride ldx) -> y: [rows, n] (row stride ldy); a row of -inf gives 0 (log: -inf).
template <class T, bool BLOCK>
__global__ void softmax_forward_kernel(const T* x, int64_t ldx, T* y, int64_t ldy, int64_t rows, int n, int log) {
  int64_t row;
  int first, step;
  row_coords<BLOCK>(row, first, step);
  if (row >= rows) return;  // uniform per warp (and per block when BLOCK)
  const T* xr = x + row * ldx;
  T* yr = y + row * ldy;
  float m = -INFINITY, s = 0.f;
  for (int j = first; j < n; j += step) online_merge(m, s, to_f(xr[j]), 1.f);
  row_online_reduce<BLOCK>(m, s);
  if (m == -INFINITY) {
    for (int j = first; j < n; j += step) yr[j] = from_f<T>(log ? -INFINITY : 0.f);
    return;
  }
  const float ls = m + logf(s), inv = 1.f / s;
  for (int j = first; j < n; j += step) {
    const float v = to_f(xr[j]);
    yr[j] = from_f<T>(log ? v - ls : __expf(v - m) * inv);
  }
}

// y: the forward output, dy: [rows, n] -> dx; softmax: dx = y·(dy − Σ dy·y); log: dx = dy − exp(y)·Σ dy.
template <class T, bool BLOCK>
__global__ void softmax_backward_kernel(const T* y, const T* dy, T* dx, int64_t ld, int64_t rows, int n, int log) {
  int64_t row;
  int first, step;
  row_coords<BLOCK>(row, first, step);
  if (row >= rows) return;
  const T *yr = y + row * ld, *gr = dy + row * ld;
  T* dr = dx + row * ld;
  float s = 0.f;
  for (int j = first; j < n; j += step) s += log ? to_f(gr[j]) : to_f(gr[j]) * to_f(yr[j]);
  s = row_sum<BLOCK>(s);
  for (int j = first; j < n; j += step) {
    const float yv = to_f(yr[j]), g = to_f(gr[j]);
    dr[j] = from_f<T>(log ? g - __expf(yv) * s : yv * (g - s));
  }
}

inline void softmax_check(const char* op, const void* a, const void* b, int64_t rows, int64_t n, int64_t ld1,
                          int64_t ld2) {
  unigen::check(rows >= 0 && n >= 0 && n < (int64_t(1) << 31), op, ": bad shape [", rows, ", ", n, "]");
  unigen::check(rows == 0 || n == 0 || (a && b), op, ": null pointer");
  unigen::check(ld1 >= n && ld2 >= n, op, ": row strides ", ld1, ", ", ld2, " smaller than the row length ", n);
  unigen::check(rows <= int64_t(65535) * 65535, op, ": too many rows (", rows, ")");
}

// Launches a row kernel over `rows` rows of length n: warps per row for short rows, else blocks.
template <class KW, class KB>
void launch_rows(const char* op, int64_t rows, int64_t n, cudaStream_t stream, KW warp_kernel, KB block_kernel) {
  if (rows == 0 || n == 0) return;
  if (n <= kWarpRowMax) {
    const int warps = 8;
    unigen::check(ceil_div(rows, warps) < (int64_t(1) << 31), op, ": too many rows");
    warp_kernel(unsigned(ceil_div(rows, warps)), warps * 32, stream);
  } else {
    unigen::check(rows < (int64_t(1) << 31), op, ": too many rows");
    block_kernel(unsigned(rows), kRowBlockThreads, stream);
  }
  check_launch(op);
}

// x: [rows, n] -> y: [rows, n], softmax (log = false) or log_softmax (log = true) of each row.
template <class T>
void softmax_forward(const T* x, int64_t ldx, T* y, int64_t ldy, int64_t rows, int64_t n, bool log,
                     cudaStream_t stream = current_stream()) {
  const char* op = log ? "cuda log_softmax" : "cuda softmax";
  softmax_check(op, x, y, rows, n, ldx, ldy);
  launch_rows(
      op, rows, n, stream,
      [&](unsigned g, int t, cudaStream_t s) {
        softmax_forward_kernel<T, false><<<g, t, 0, s>>>(x, ldx, y, ldy, rows, int(n), log ? 1 : 0);
      },
      [&](unsigned g, int t, cudaStream_t s) {
        softmax_forward_kernel<T, true><<<g, t, 0, s>>>(x, ldx, y, ldy, rows, int(n), log ? 1 : 0);
      });
}

// y (forward output), dy: [rows, n] (row stride ld) -> dx: [rows, n] (row stride ld).
template <class T>
void softmax_backward(const T* y, const T* dy, T* dx, int64_t ld, int64_t rows, int64_t n, bool log,
                      cudaStream_t stream = current_stream()) {
  const char* op = log ? "cuda log_softmax backward" : "cuda softmax backward";
  softmax_check(op, y, dy, rows, n, ld, ld);
  unigen::check(rows == 0 || n == 0 || dx, op, ": null dx");
  launch_rows(
      op, rows, n, stream,
      [&](unsigned g, int t, cudaStream_t s) {
        softmax_backward_kernel<T, false><<<g, t, 0, s>>>(y, dy, dx, ld, rows, int(n), log ? 1 : 0);
      },
      [&](unsigned g, int t, cudaStream_t s) {
        softmax_backward_kernel<T, true><<<g, t, 0, s>>>(y, dy, dx, ld, rows, int(n), log ? 1 : 0);
      });
}

}  // namespace unigen::cuda::kernels
