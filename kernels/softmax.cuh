#pragma once
// Row softmax and log_softmax, forward and backward. Register path (rows of up to 8192 columns, a multiple
// of the 16-byte vector, aligned): each row read once with 16-byte loads into registers, a warp per row up
// to 1024 columns, else a block; general path (any shape): a warp or block per row, the max and the sum
// from one online pass over memory, the output from a second.
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

constexpr int kRowRegFloats = 32;                                 // floats of a row one thread holds
constexpr int64_t kRegRowMax = kRowBlockThreads * kRowRegFloats;  // longest row of the register path: 8192

// One thread's part of a row of n elements (n a multiple of kVec<T>), held as floats in registers: up to
// NV 16-byte vectors, vector i at columns [col(i), col(i) + kVec<T>), col(i) = (first + i·step)·kVec<T>,
// present when col(i) < n (has(i)). With first/step from row_coords, a warp holds rows up to 32·32 = 1024
// columns, a block of t threads rows up to 32·t.
template <class T>
struct RowRegs {
  static constexpr int V = kVec<T>, NV = kRowRegFloats / V;
  float v[NV][V];
  int first, step, n;

  __device__ RowRegs(int first_, int step_, int n_) : first(first_), step(step_), n(n_) {}
  __device__ int col(int i) const { return (first + i * step) * V; }
  __device__ bool has(int i) const { return col(i) < n; }
  __device__ float& operator()(int i, int k) { return v[i][k]; }
  // r: the row's first element (16-byte aligned).
  __device__ void load(const T* r) {
#pragma unroll
    for (int i = 0; i < NV; ++i)
      if (has(i)) load_vec(r + col(i), v[i]);
  }
  __device__ void store(T* r) const {
#pragma unroll
    for (int i = 0; i < NV; ++i)
      if (has(i)) store_vec(r + col(i), v[i]);
  }
  // f(i, k) for every element present.
  template <class F>
  __device__ void each(F f) const {
#pragma unroll
    for (int i = 0; i < NV; ++i)
      if (has(i)) {
#pragma unroll
        for (int k = 0; k < V; ++k) f(i, k);
      }
  }
};

// x: [rows, n] (row stride ldx) -> y: [rows, n] (row stride ldy); a row of -inf gives 0 (log: -inf).
// Register path: the exact max, then the sum of exp, both from registers.
template <class T, bool BLOCK>
__global__ void __launch_bounds__(kRowBlockThreads)
    softmax_forward_vec_kernel(const T* x, int64_t ldx, T* y, int64_t ldy, int64_t rows, int n, int log) {
  int64_t row;
  int first, step;
  row_coords<BLOCK>(row, first, step);
  if (row >= rows) return;  // uniform per warp (and per block when BLOCK)
  RowRegs<T> r(first, step, n);
  r.load(x + row * ldx);
  float m = -INFINITY;
  r.each([&](int i, int k) { m = fmaxf(m, r(i, k)); });
  m = row_max<BLOCK>(m);
  if (m == -INFINITY) {
    r.each([&](int i, int k) { r(i, k) = log ? -INFINITY : 0.f; });
  } else {
    float s = 0.f;
    r.each([&](int i, int k) {
      const float e = __expf(r(i, k) - m);
      s += e;
      if (!log) r(i, k) = e;
    });
    s = row_sum<BLOCK>(s);
    const float ls = m + logf(s), inv = 1.f / s;
    r.each([&](int i, int k) { r(i, k) = log ? r(i, k) - ls : r(i, k) * inv; });
  }
  r.store(y + row * ldy);
}

// General path of the same contract: any n and strides.
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
// Register path: y and dy each read once into registers.
template <class T, bool BLOCK>
__global__ void __launch_bounds__(kRowBlockThreads)
    softmax_backward_vec_kernel(const T* y, const T* dy, T* dx, int64_t ld, int64_t rows, int n, int log) {
  int64_t row;
  int first, step;
  row_coords<BLOCK>(row, first, step);
  if (row >= rows) return;
  RowRegs<T> yr(first, step, n), g(first, step, n);
  yr.load(y + row * ld);
  g.load(dy + row * ld);
  float s = 0.f;
  g.each([&](int i, int k) { s += log ? g(i, k) : g(i, k) * yr(i, k); });
  s = row_sum<BLOCK>(s);
  g.each([&](int i, int k) { g(i, k) = log ? g(i, k) - __expf(yr(i, k)) * s : yr(i, k) * (g(i, k) - s); });
  g.store(dx + row * ld);
}

// General path of the same contract.
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

// Launches a row kernel over `rows` rows of length n through launch(block, vec, grid, threads, stream), with
// block and vec std::bool_constant. vec (the caller checked n % kVec<T> == 0 and the alignment): the register
// path up to kRegRowMax columns, a warp per row up to 1024 columns (8 rows per block), beyond that a block
// of just enough warps for the row to fit in kRowRegFloats registers per thread (at most 256 threads).
// Otherwise the general path: a warp per row up to 1024 columns, a block of 256 threads beyond.
template <class T, class L>
void launch_rows(const char* op, int64_t rows, int64_t n, bool vec, cudaStream_t stream, L launch) {
  using no = std::false_type;
  using yes = std::true_type;
  if (rows == 0 || n == 0) return;
  vec = vec && n <= kRegRowMax;
  if (n <= kWarpRowMax) {
    const int warps = 8;
    unigen::check(ceil_div(rows, warps) < (int64_t(1) << 31), op, ": too many rows");
    const unsigned grid = unsigned(ceil_div(rows, warps));
    vec ? launch(no{}, yes{}, grid, warps * 32, stream) : launch(no{}, no{}, grid, warps * 32, stream);
  } else {
    unigen::check(rows < (int64_t(1) << 31), op, ": too many rows");
    if (vec) {
      const int threads = int(ceil_div(ceil_div(n / kVec<T>, RowRegs<T>::NV), 32) * 32);
      launch(yes{}, yes{}, unsigned(rows), threads, stream);
    } else {
      launch(yes{}, no{}, unsigned(rows), kRowBlockThreads, stream);
    }
  }
  check_launch(op);
}

// x: [rows, n] -> y: [rows, n], softmax (log = false) or log_softmax (log = true) of each row.
template <class T>
void softmax_forward(const T* x, int64_t ldx, T* y, int64_t ldy, int64_t rows, int64_t n, bool log,
                     cudaStream_t stream = current_stream()) {
  const char* op = log ? "cuda log_softmax" : "cuda softmax";
  softmax_check(op, x, y, rows, n, ldx, ldy);
  const bool vec = n % kVec<T> == 0 && vec_aligned<T>(x, ldx) && vec_aligned<T>(y, ldy);
  launch_rows<T>(op, rows, n, vec, stream, [&](auto block, auto vec_, unsigned g, int t, cudaStream_t s) {
    constexpr bool B = decltype(block)::value;
    if constexpr (decltype(vec_)::value)
      softmax_forward_vec_kernel<T, B><<<g, t, 0, s>>>(x, ldx, y, ldy, rows, int(n), log ? 1 : 0);
    else
      softmax_forward_kernel<T, B><<<g, t, 0, s>>>(x, ldx, y, ldy, rows, int(n), log ? 1 : 0);
  });
}

// y (forward output), dy: [rows, n] (row stride ld) -> dx: [rows, n] (row stride ld).
template <class T>
void softmax_backward(const T* y, const T* dy, T* dx, int64_t ld, int64_t rows, int64_t n, bool log,
                      cudaStream_t stream = current_stream()) {
  const char* op = log ? "cuda log_softmax backward" : "cuda softmax backward";
  softmax_check(op, y, dy, rows, n, ld, ld);
  unigen::check(rows == 0 || n == 0 || dx, op, ": null dx");
  const bool vec = n % kVec<T> == 0 && vec_aligned<T>(y, ld) && vec_aligned<T>(dy, ld) && vec_aligned<T>(dx, ld);
  launch_rows<T>(op, rows, n, vec, stream, [&](auto block, auto vec_, unsigned g, int t, cudaStream_t s) {
    constexpr bool B = decltype(block)::value;
    if constexpr (decltype(vec_)::value)
      softmax_backward_vec_kernel<T, B><<<g, t, 0, s>>>(y, dy, dx, ld, rows, int(n), log ? 1 : 0);
    else
      softmax_backward_kernel<T, B><<<g, t, 0, s>>>(y, dy, dx, ld, rows, int(n), log ? 1 : 0);
  });
}

}  // namespace unigen::cuda::kernels
