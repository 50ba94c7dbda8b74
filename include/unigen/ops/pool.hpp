#pragma once
// Spatial resampling of [N, C, H, W] images: nearest-neighbour upsampling and average pooling.
#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "unigen/ops/map.hpp"

namespace unigen {

// A 2-D size or step (height, width); a single int means the same in both dims.
namespace detail {

inline void require_image(const char* op, const Shape& s) {
  check(s.size() == 4, op, ": input ", s, " must be 4-D [N, C, H, W]");
}

}  // namespace detail

// x: [N, C, H, W] -> [N, C, H*sh, W*sw]; every pixel repeated into an sh x sw block.
template <Floating T>
Tensor<T> upsample_nearest2d(const Tensor<T>& x, int64_t scale_h, int64_t scale_w) {
  using A = acc_t<T>;
  detail::require_cpu("upsample_nearest2d", x);
  detail::require_image("upsample_nearest2d", x.shape());
  check(scale_h >= 1 && scale_w >= 1, "upsample_nearest2d: scale factors (", scale_h, ", ", scale_w,
        ") must be >= 1, input ", x.shape());
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3), OH = H * scale_h, OW = W * scale_w;
  Tensor<T> xc = x.detach().contiguous();
  Tensor<T> out = Tensor<T>::empty({x.size(0), x.size(1), OH, OW});
  const T* xp = xc.data();
  T* op = out.data();
#pragma omp parallel for if (out.numel() > (1 << 16)) schedule(static)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < OH; ++i)
      for (int64_t j = 0; j < OW; ++j) op[(p * OH + i) * OW + j] = xp[(p * H + i / scale_h) * W + j / scale_w];
  autograd::record("upsample_nearest2d", out, [x, planes, H, W, OH, OW, scale_h, scale_w](const Tensor<T>& g) {
    Tensor<T> gc = g.contiguous(), gx = Tensor<T>::empty(x.shape());
    const T* gp = gc.data();
    T* xg = gx.data();
#pragma omp parallel for if (g.numel() > (1 << 16)) schedule(static)
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t i = 0; i < H; ++i)
        for (int64_t j = 0; j < W; ++j) {
          A s = 0;
          for (int64_t a = 0; a < scale_h; ++a)
            for (int64_t b = 0; b < scale_w; ++b) s += A(gp[(p * OH + i * scale_h + a) * OW + j * scale_w + b]);
          xg[(p * H + i) * W + j] = T(s);
        }
    autograd::accumulate(x, std::move(gx));
  }, x);
  return out;
}

// x: [N, C, H, W] -> [N, C, H*s, W*s].
template <Floating T>
Tensor<T> upsample_nearest2d(const Tensor<T>& x, int64_t scale) {
  return upsample_nearest2d(x, scale, scale);
}

// x: [N, C, H, W] -> [N, C, (H + 2p - k)/s + 1, (W + 2p - k)/s + 1]: the mean over each k window, padding
// counted as zeros in the mean (PyTorch's count_include_pad = true); stride defaults to the kernel.
template <Floating T>
Tensor<T> avg_pool2d(const Tensor<T>& x, Size2 kernel, std::optional<Size2> stride_opt = std::nullopt,
                     Size2 padding = 0) {
  using A = acc_t<T>;
  detail::require_cpu("avg_pool2d", x);
  detail::require_image("avg_pool2d", x.shape());
  const Size2 stride = stride_opt.value_or(kernel);
  check(kernel.h >= 1 && kernel.w >= 1 && stride.h >= 1 && stride.w >= 1, "avg_pool2d: kernel ", kernel.shape(),
        " and stride ", stride.shape(), " must be >= 1, input ", x.shape());
  check(padding.h >= 0 && padding.w >= 0 && 2 * padding.h <= kernel.h && 2 * padding.w <= kernel.w,
        "avg_pool2d: padding ", padding.shape(), " must be between 0 and half the kernel ", kernel.shape());
  const int64_t H = x.size(2), W = x.size(3);
  check(H + 2 * padding.h >= kernel.h && W + 2 * padding.w >= kernel.w, "avg_pool2d: kernel ", kernel.shape(),
        " is bigger than input ", x.shape(), " padded by ", padding.shape());
  const int64_t planes = x.size(0) * x.size(1);
  const int64_t OH = (H + 2 * padding.h - kernel.h) / stride.h + 1, OW = (W + 2 * padding.w - kernel.w) / stride.w + 1;
  const A inv = A(1) / A(kernel.h * kernel.w);
  Tensor<T> xc = x.detach().contiguous();
  Tensor<T> out = Tensor<T>::empty({x.size(0), x.size(1), OH, OW});
  const T* xp = xc.data();
  T* op = out.data();
#pragma omp parallel for if (x.numel() > (1 << 16)) schedule(static)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        A s = 0;
        for (int64_t i = std::max<int64_t>(0, oh * stride.h - padding.h);
             i < std::min(H, oh * stride.h - padding.h + kernel.h); ++i)
          for (int64_t j = std::max<int64_t>(0, ow * stride.w - padding.w);
               j < std::min(W, ow * stride.w - padding.w + kernel.w); ++j)
            s += A(xp[(p * H + i) * W + j]);
        op[(p * OH + oh) * OW + ow] = T(s * inv);
      }
  autograd::record("avg_pool2d", out, [x, kernel, stride, padding, planes, H, W, OH, OW, inv](const Tensor<T>& g) {
    Tensor<T> gc = g.contiguous(), gx = Tensor<T>::empty(x.shape());
    const T* gp = gc.data();
    T* xg = gx.data();
#pragma omp parallel for if (x.numel() > (1 << 16)) schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
      std::vector<A> acc(size_t(H * W), A(0));
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const A v = A(gp[(p * OH + oh) * OW + ow]) * inv;
          for (int64_t i = std::max<int64_t>(0, oh * stride.h - padding.h);
               i < std::min(H, oh * stride.h - padding.h + kernel.h); ++i)
            for (int64_t j = std::max<int64_t>(0, ow * stride.w - padding.w);
                 j < std::min(W, ow * stride.w - padding.w + kernel.w); ++j)
              acc[size_t(i * W + j)] += v;
        }
      for (int64_t k = 0; k < H * W; ++k) xg[p * H * W + k] = T(acc[size_t(k)]);
    }
    autograd::accumulate(x, std::move(gx));
  }, x);
  return out;
}

}  // namespace unigen
