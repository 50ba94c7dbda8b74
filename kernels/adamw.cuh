#pragma once
// AdamW update (decoupled weight decay), as unigen::optim::AdamW: moments in fp32, parameters in T.
#include <cmath>

#include "kernels/common.cuh"

namespace unigen::cuda::kernels {

// p, g: [n] (T), m, v: [n] fp32: m = b1·m + (1−b1)·g; v = b2·v + (1−b2)·g²;
// p −= lr·(m·c1 / (sqrt(v·c2) + eps) + wd·p), c1 = 1/(1−b1^t), c2 = 1/(1−b2^t).
template <class T>
__global__ void adamw_kernel(T* p, const T* g, float* m, float* v, int64_t n, float lr, float b1, float b2, float eps,
                             float wd, float c1, float c2) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float gi = to_f(g[i]);
    const float mi = b1 * m[i] + (1.f - b1) * gi, vi = b2 * v[i] + (1.f - b2) * gi * gi;
    m[i] = mi, v[i] = vi;
    const float pi = to_f(p[i]);
    p[i] = from_f<T>(pi - lr * (mi * c1 / (sqrtf(vi * c2) + eps) + wd * pi));
  }
}

// One AdamW step (step >= 1, counted from 1) on n parameters.
template <class T>
void adamw_step(T* p, const T* g, float* m, float* v, int64_t n, int64_t step, float lr, float beta1, float beta2,
                float eps, float weight_decay, cudaStream_t stream = current_stream()) {
  const char* op = "cuda adamw";
  unigen::check(n >= 0 && step >= 1, op, ": bad n ", n, " or step ", step);
  unigen::check(beta1 >= 0.f && beta1 < 1.f && beta2 >= 0.f && beta2 < 1.f, op, ": betas ", beta1, ", ", beta2,
                " not in [0, 1)");
  if (n == 0) return;
  unigen::check(p && g && m && v, op, ": null pointer");
  const float c1 = 1.f / (1.f - std::pow(beta1, float(step))), c2 = 1.f / (1.f - std::pow(beta2, float(step)));
  adamw_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, c1, c2);
  check_launch(op);
}

}  // namespace unigen::cuda::kernels
