#pragma once
// Elementwise and reduction kernels: GELU forward/backward, binary ops with NumPy broadcasting given as
// strides, casts and fills, and sums over rows, columns and whole arrays.
#include "kernels/common.cuh"

namespace unigen::cuda::kernels {

constexpr int kMaxDims = 8;
enum class BinaryOp { add, sub, mul, div };

// Output shape (contiguous) and the element strides of a and b in it (0 on broadcast dims).
struct BroadcastGeometry {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t sa[kMaxDims] = {}, sb[kMaxDims] = {};
};

// x: [n] -> y: [n], y = gelu(x) (erf form).
template <class T>
__global__ void gelu_forward_kernel(const T* x, T* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = from_f<T>(gelu_f(to_f(x[i])));
}
// x, dy: [n] -> dx: [n], dx = dy·gelu'(x).
template <class T>
__global__ void gelu_backward_kernel(const T* x, const T* dy, T* dx, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = from_f<T>(to_f(dy[i]) * gelu_grad_f(to_f(x[i])));
}

// out[i] = a[ia] op b[ib] over a contiguous output of g.shape.
template <class T>
__global__ void binary_kernel(const T* a, const T* b, T* out, BroadcastGeometry g, int64_t n, BinaryOp op) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t rem = i, ia = 0, ib = 0;
    for (int d = g.ndim - 1; d >= 0; --d) {
      const int64_t c = rem % g.shape[d];
      rem /= g.shape[d];
      ia += c * g.sa[d], ib += c * g.sb[d];
    }
    const float x = to_f(a[ia]), y = to_f(b[ib]);
    float r = 0.f;
    switch (op) {
      case BinaryOp::add: r = x + y; break;
      case BinaryOp::sub: r = x - y; break;
      case BinaryOp::mul: r = x * y; break;
      case BinaryOp::div: r = x / y; break;
    }
    out[i] = from_f<T>(r);
  }
}

template <class To, class From>
__global__ void cast_kernel(const From* x, To* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = from_f<To>(to_f(x[i]));
}
template <class T>
__global__ void fill_kernel(T* y, int64_t n, float v) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = from_f<T>(v);
}

// x: [rows, n] (row stride ld) -> y: [rows], y = scale·Σ_j x (one warp per row).
template <class T>
__global__ void sum_rows_kernel(const T* x, int64_t ld, T* y, int64_t rows, int64_t n, float scale) {
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return;
  float s = 0.f;
  for (int64_t j = threadIdx.x % 32; j < n; j += 32) s += to_f(x[row * ld + j]);
  s = warp_sum(s);
  if (threadIdx.x % 32 == 0) y[row] = from_f<T>(s * scale);
}

// x: [rows, n] (row stride ld) -> y: [n], y = Σ_rows x (a thread per column; the bias gradient).
template <class T>
__global__ void sum_cols_kernel(const T* x, int64_t ld, T* y, int64_t rows, int64_t n) {
  const int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (j >= n) return;
  float s = 0.f;
  for (int64_t r = 0; r < rows; ++r) s += to_f(x[r * ld + j]);
  y[j] = from_f<T>(s);
}

// x: [n] -> *out += Σ x (fp32; per-block sums added with atomics, so the order is not fixed).
template <class T>
__global__ void sum_all_kernel(const T* x, int64_t n, float* out) {
  float s = 0.f;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    s += to_f(x[i]);
  s = block_sum(s);
  if (threadIdx.x == 0) atomicAdd(out, s);
}

inline void elementwise_check(const char* op, int64_t n, const void* a, const void* b) {
  unigen::check(n >= 0, op, ": negative size ", n);
  unigen::check(n == 0 || (a && b), op, ": null pointer");
}

// x: [n] -> y: [n] = gelu(x).
template <class T>
void gelu_forward(const T* x, T* y, int64_t n, cudaStream_t stream = current_stream()) {
  elementwise_check("cuda gelu", n, x, y);
  if (n == 0) return;
  gelu_forward_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(x, y, n);
  check_launch("cuda gelu");
}
// x, dy: [n] -> dx: [n] = dy·gelu'(x).
template <class T>
void gelu_backward(const T* x, const T* dy, T* dx, int64_t n, cudaStream_t stream = current_stream()) {
  elementwise_check("cuda gelu backward", n, x, dy);
  elementwise_check("cuda gelu backward", n, dx, dx);
  if (n == 0) return;
  gelu_backward_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(x, dy, dx, n);
  check_launch("cuda gelu backward");
}

// out: contiguous [shape] = a op b, a and b read through the strides of g (0 on broadcast dims).
template <class T>
void binary(BinaryOp op, const T* a, const T* b, T* out, const BroadcastGeometry& g,
            cudaStream_t stream = current_stream()) {
  const char* name = "cuda binary op";
  unigen::check(g.ndim >= 0 && g.ndim <= kMaxDims, name, ": rank ", g.ndim, " not in [0, ", kMaxDims, "]");
  int64_t n = 1;
  for (int d = 0; d < g.ndim; ++d) {
    unigen::check(g.shape[d] >= 0, name, ": negative dim ", g.shape[d]);
    n *= g.shape[d];
  }
  elementwise_check(name, n, a, b);
  elementwise_check(name, n, out, out);
  if (n == 0) return;
  binary_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(a, b, out, g, n, op);
  check_launch(name);
}

// y[i] = To(x[i]) for n values.
template <class To, class From>
void cast(const From* x, To* y, int64_t n, cudaStream_t stream = current_stream()) {
  elementwise_check("cuda cast", n, x, y);
  if (n == 0) return;
  cast_kernel<To, From><<<grid_for(n, 256), 256, 0, stream>>>(x, y, n);
  check_launch("cuda cast");
}
template <class T>
void fill(T* y, int64_t n, float v, cudaStream_t stream = current_stream()) {
  elementwise_check("cuda fill", n, y, y);
  if (n == 0) return;
  fill_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(y, n, v);
  check_launch("cuda fill");
}

// x: [rows, n] -> y: [rows], scale·Σ over each row (scale 1/n gives the mean).
template <class T>
void sum_rows(const T* x, int64_t ld, T* y, int64_t rows, int64_t n, float scale = 1.f,
              cudaStream_t stream = current_stream()) {
  elementwise_check("cuda sum_rows", rows, x, y);
  unigen::check(n >= 0 && ld >= n, "cuda sum_rows: row stride ", ld, " < row length ", n);
  if (rows == 0) return;
  unigen::check(ceil_div(rows, 8) < (int64_t(1) << 31), "cuda sum_rows: too many rows");
  sum_rows_kernel<T><<<unsigned(ceil_div(rows, 8)), 256, 0, stream>>>(x, ld, y, rows, n, scale);
  check_launch("cuda sum_rows");
}
// x: [rows, n] -> y: [n], Σ over rows.
template <class T>
void sum_cols(const T* x, int64_t ld, T* y, int64_t rows, int64_t n, cudaStream_t stream = current_stream()) {
  elementwise_check("cuda sum_cols", n, x, y);
  unigen::check(rows >= 0 && ld >= n, "cuda sum_cols: row stride ", ld, " < row length ", n);
  if (n == 0) return;
  sum_cols_kernel<T><<<unsigned(ceil_div(n, 256)), 256, 0, stream>>>(x, ld, y, rows, n);
  check_launch("cuda sum_cols");
}
// x: [n] -> out: [1] fp32, out = Σ x (out is overwritten).
template <class T>
void sum_all(const T* x, int64_t n, float* out, cudaStream_t stream = current_stream()) {
  elementwise_check("cuda sum_all", n, x, out);
  unigen::check(out != nullptr, "cuda sum_all: null out");
  check_cuda(cudaMemsetAsync(out, 0, sizeof(float), stream), "cuda sum_all");
  if (n == 0) return;
  sum_all_kernel<T><<<grid_for(n, 256, 1024), 256, 0, stream>>>(x, n, out);
  check_launch("cuda sum_all");
}

}  // namespace unigen::cuda::kernels
