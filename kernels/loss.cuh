#pragma once
// Cross-entropy from logits (label smoothing, ignore_index, class weights), forward and backward, with
// unigen::cross_entropy's definition: per row (1−ε)·w[y]·(−log p_y) + (ε/C)·Σ_c w[c]·(−log p_c); the
// mean divides by Σ w[y] over the rows not ignored. Everything stays on the device.
#include "kernels/softmax.cuh"

namespace unigen::cuda::kernels {

enum class CeReduction { mean, sum, none };

// One row per warp or block: lse[r], row_loss[r], row_w[r] (w[y], 0 when ignored); a target out of
// range sets *bad (when given) and counts as ignored.
template <class T, bool BLOCK>
__global__ void ce_forward_kernel(const T* logits, int64_t ld, const int64_t* target, const float* weight,
                                  int64_t rows, int C, float eps, int64_t ignore, float* lse, float* row_loss,
                                  float* row_w, int* bad) {
  int64_t row;
  int first, step;
  row_coords<BLOCK>(row, first, step);
  if (row >= rows) return;
  const T* z = logits + row * ld;
  float m = -INFINITY, s = 0.f, wz = 0.f, wsum = 0.f;
  for (int c = first; c < C; c += step) {
    const float v = to_f(z[c]), w = weight ? weight[c] : 1.f;
    online_merge(m, s, v, 1.f);
    wz += w * v;
    wsum += w;
  }
  row_online_reduce<BLOCK>(m, s);
  wz = row_sum<BLOCK>(wz);
  wsum = row_sum<BLOCK>(wsum);
  if (first != 0) return;
  const float l = m + logf(s);
  lse[row] = l;
  const int64_t t = target[row];
  if (t == ignore || t < 0 || t >= C) {
    if (t != ignore && bad) atomicExch(bad, 1);
    row_loss[row] = 0.f, row_w[row] = 0.f;
    return;
  }
  const float wt = weight ? weight[t] : 1.f;
  row_loss[row] = (1.f - eps) * wt * (l - to_f(z[t])) + eps / float(C) * (wsum * l - wz);
  row_w[row] = wt;
}

// out[0] = Σ row_loss (/ Σ row_w for mean); denom[0] = Σ row_w. One block.
template <class T>
__global__ void ce_reduce_kernel(const float* row_loss, const float* row_w, int64_t rows, int mean, T* out,
                                 float* denom) {
  float a = 0.f, b = 0.f;
  for (int64_t i = threadIdx.x; i < rows; i += blockDim.x) a += row_loss[i], b += row_w[i];
  a = block_sum(a);
  b = block_sum(b);
  if (threadIdx.x == 0) {
    out[0] = from_f<T>(mean ? a / b : a);
    denom[0] = b;
  }
}
template <class T>
__global__ void ce_copy_rows_kernel(const float* row_loss, T* out, int64_t rows) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < rows; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = from_f<T>(row_loss[i]);
}

// dz[r, c] = s_r·((1−ε)·w[y]·(p − [c = y]) + (ε/C)·(W·p − w[c])), p = exp(z − lse); 0 on ignored rows.
// s_r = dout[r] (none), dout[0] / denom[0] (mean) or dout[0] (sum).
template <class T>
__global__ void ce_backward_kernel(const T* logits, int64_t ld, const int64_t* target, const float* weight,
                                   const float* lse, const T* dout, const float* denom, int64_t rows, int C,
                                   float eps, int64_t ignore, CeReduction red, float wsum, T* dz, int64_t ldd) {
  const int64_t row = blockIdx.x;
  if (row >= rows) return;
  const int64_t t = target[row];
  const bool skip = t == ignore || t < 0 || t >= C;
  const float s = red == CeReduction::none ? to_f(dout[row])
                  : red == CeReduction::mean ? to_f(dout[0]) / denom[0] : to_f(dout[0]);
  const float wt = skip ? 0.f : (weight ? weight[t] : 1.f), l = lse[row];
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    float d = 0.f;
    if (!skip) {
      const float p = __expf(to_f(logits[row * ld + c]) - l);
      d = s * ((1.f - eps) * wt * (p - (c == t ? 1.f : 0.f)) + eps / float(C) * (wsum * p - (weight ? weight[c] : 1.f)));
    }
    dz[row * ldd + c] = from_f<T>(d);
  }
}

// fp32 device workspace of the cross-entropy forward, kept for the backward.
struct CrossEntropyState {
  DeviceBuffer<float> lse, row_loss, row_w, denom;
  DeviceBuffer<int> bad;  // 1 when some target was out of range (read it with bad.download())
  float wsum = 0;         // Σ_c w[c]
};

// logits: [rows, C] (row stride ld), target: [rows] int64 (device), weight: [C] fp32 or nullptr, ->
// out: [1] (mean, sum) or [rows] (none), all on the device. `weight_sum` is Σ_c weight[c] (C when none).
template <class T>
void cross_entropy_forward(const T* logits, int64_t ld, const int64_t* target, const float* weight, float weight_sum,
                           int64_t rows, int64_t C, float label_smoothing, int64_t ignore_index, CeReduction red,
                           T* out, CrossEntropyState& st, cudaStream_t stream = current_stream()) {
  const char* op = "cuda cross_entropy";
  unigen::check(rows >= 1 && C >= 1 && C < (int64_t(1) << 31), op, ": bad logits shape [", rows, ", ", C, "]");
  unigen::check(ld >= C, op, ": row stride ", ld, " smaller than C ", C);
  unigen::check(logits && target && out, op, ": null pointer");
  unigen::check(label_smoothing >= 0.f && label_smoothing <= 1.f, op, ": label_smoothing ", label_smoothing,
                " not in [0, 1]");
  StreamGuard guard(stream);
  st.lse = DeviceBuffer<float>(size_t(rows));
  st.row_loss = DeviceBuffer<float>(size_t(rows));
  st.row_w = DeviceBuffer<float>(size_t(rows));
  st.denom = DeviceBuffer<float>(1);
  st.bad = DeviceBuffer<int>(1);
  st.bad.zero();
  st.wsum = weight ? weight_sum : float(C);
  launch_rows<T>(op, rows, C, false, stream, [&](auto block, auto, unsigned g, int t, cudaStream_t s) {
    ce_forward_kernel<T, decltype(block)::value><<<g, t, 0, s>>>(logits, ld, target, weight, rows, int(C),
                                                                 label_smoothing, ignore_index, st.lse.data(),
                                                                 st.row_loss.data(), st.row_w.data(), st.bad.data());
  });
  if (red == CeReduction::none) {
    ce_copy_rows_kernel<T><<<grid_for(rows, 256), 256, 0, stream>>>(st.row_loss.data(), out, rows);
  } else {
    ce_reduce_kernel<T><<<1, 1024, 0, stream>>>(st.row_loss.data(), st.row_w.data(), rows,
                                                red == CeReduction::mean ? 1 : 0, out, st.denom.data());
  }
  check_launch(op);
}

// dout: [1] or [rows] (as out of the forward) -> dz: [rows, C] (row stride ldd), overwritten.
template <class T>
void cross_entropy_backward(const T* logits, int64_t ld, const int64_t* target, const float* weight, int64_t rows,
                            int64_t C, float label_smoothing, int64_t ignore_index, CeReduction red, const T* dout,
                            const CrossEntropyState& st, T* dz, int64_t ldd, cudaStream_t stream = current_stream()) {
  const char* op = "cuda cross_entropy backward";
  unigen::check(rows >= 1 && C >= 1 && C < (int64_t(1) << 31) && ld >= C && ldd >= C, op, ": bad shape [", rows,
                ", ", C, "] or row strides ", ld, ", ", ldd);
  unigen::check(logits && target && dout && dz, op, ": null pointer");
  unigen::check(st.lse.size() == size_t(rows) && st.denom.size() == 1, op,
                ": state does not come from a forward over ", rows, " rows");
  unigen::check(rows <= 0x7fffffff, op, ": too many rows");
  ce_backward_kernel<T><<<unsigned(rows), 256, 0, stream>>>(logits, ld, target, weight, st.lse.data(), dout,
                                                            st.denom.data(), rows, int(C), label_smoothing,
                                                            ignore_index, red, st.wsum, dz, ldd);
  check_launch(op);
}

}  // namespace unigen::cuda::kernels
