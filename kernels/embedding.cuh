#pragma once
// Embedding lookup: forward gathers rows of the table, backward scatters gradients into it with atomics.
#include "kernels/common.cuh"

namespace unigen::cuda::kernels {

// weight: [V, D], ids: [n] -> out: [n, D]; an id outside [0, V) gives a zero row and sets *bad.
template <class T>
__global__ void embedding_forward_kernel(const T* weight, const int64_t* ids, T* out, int64_t n, int64_t V, int64_t D,
                                         int* bad) {
  const int64_t total = n * D;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / D, c = i % D, id = ids[r];
    if (id < 0 || id >= V) {
      out[i] = from_f<T>(0.f);
      if (c == 0 && bad) atomicExch(bad, 1);
    } else {
      out[i] = weight[id * D + c];
    }
  }
}

// dout: [n, D], ids: [n] -> dweight[id] += dout[r] (fp32 [V, D]); rows with id == padding_idx or out of range skipped.
template <class T>
__global__ void embedding_backward_kernel(const T* dout, const int64_t* ids, float* dweight, int64_t n, int64_t V,
                                          int64_t D, int64_t padding_idx) {
  const int64_t total = n * D;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / D, c = i % D, id = ids[r];
    if (id < 0 || id >= V || id == padding_idx) continue;
    atomicAdd(dweight + id * D + c, to_f(dout[i]));
  }
}

// weight: [V, D], ids: [n] int64 (device) -> out: [n, D]; bad: [1] int (device) or nullptr, set to 1 on a bad id.
template <class T>
void embedding_forward(const T* weight, const int64_t* ids, T* out, int64_t n, int64_t V, int64_t D, int* bad,
                       cudaStream_t stream = current_stream()) {
  const char* op = "cuda embedding";
  unigen::check(n >= 0 && V >= 1 && D >= 1, op, ": bad sizes n ", n, ", V ", V, ", D ", D);
  if (n == 0) return;
  unigen::check(weight && ids && out, op, ": null pointer");
  embedding_forward_kernel<T><<<grid_for(n * D, 256), 256, 0, stream>>>(weight, ids, out, n, V, D, bad);
  check_launch(op);
}

// dout: [n, D] -> dweight: [V, D] fp32; zeroed first unless accumulate.
template <class T>
void embedding_backward(const T* dout, const int64_t* ids, float* dweight, int64_t n, int64_t V, int64_t D,
                        int64_t padding_idx, bool accumulate, cudaStream_t stream = current_stream()) {
  const char* op = "cuda embedding backward";
  unigen::check(n >= 0 && V >= 1 && D >= 1, op, ": bad sizes n ", n, ", V ", V, ", D ", D);
  unigen::check(dweight != nullptr, op, ": null dweight");
  if (!accumulate) check_cuda(cudaMemsetAsync(dweight, 0, size_t(V * D) * sizeof(float), stream), op);
  if (n == 0) return;
  unigen::check(dout && ids, op, ": null pointer");
  embedding_backward_kernel<T><<<grid_for(n * D, 256), 256, 0, stream>>>(dout, ids, dweight, n, V, D, padding_idx);
  check_launch(op);
}

}  // namespace unigen::cuda::kernels
