#pragma once
// 2-D convolution and its transpose (PyTorch semantics, no groups), both built from im2col/col2im + matmul:
// conv_transpose2d's forward is conv2d's input gradient and vice versa.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "unigen/ops/matmul.hpp"
#include "unigen/ops/pool.hpp"
#include "unigen/ops/reduce.hpp"

namespace unigen {

struct Conv2dOptions {
  Size2 stride = 1, padding = 0, dilation = 1;
};

struct ConvTranspose2dOptions {
  Size2 stride = 1, padding = 0, output_padding = 0, dilation = 1;
};

namespace detail {

// One conv's geometry: the image side [n, c, h, w], the kernel window, and the column side
// [c·kh·kw, n·oh·ow], where (oh, ow) are the positions the window visits.
struct ConvGeometry {
  int64_t n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
  int64_t rows() const { return c * kh * kw; }
  int64_t cols() const { return n * oh * ow; }
};

// img: [n, c, h, w] -> [c·kh·kw, n·oh·ow]; entry ((ci·kh + i)·kw + j, (b·oh + y)·ow + x) is
// img[b, ci, y·sh − ph + i·dh, x·sw − pw + j·dw], or 0 where that falls in the padding.
template <class T>
Tensor<T> im2col(const T* img, const ConvGeometry& g) {
  Tensor<T> cols = Tensor<T>::empty({g.rows(), g.cols()});
  T* cp = cols.data();
  const int64_t rows = g.rows();
#pragma omp parallel for collapse(2) if (rows * g.cols() > (1 << 16)) schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < g.n; ++b) {
      const int64_t ci = r / (g.kh * g.kw), i = r / g.kw % g.kh, j = r % g.kw;
      const T* src = img + (b * g.c + ci) * g.h * g.w;
      T* dst = cp + r * g.cols() + b * g.oh * g.ow;
      for (int64_t y = 0; y < g.oh; ++y) {
        const int64_t iy = y * g.sh - g.ph + i * g.dh;
        for (int64_t x = 0; x < g.ow; ++x) {
          const int64_t ix = x * g.sw - g.pw + j * g.dw;
          dst[y * g.ow + x] = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w ? src[iy * g.w + ix] : T(0);
        }
      }
    }
  return cols;
}

// The adjoint of im2col: cols: [c·kh·kw, n·oh·ow] -> [n, c, h, w], each entry summed into the pixel
// im2col read it from; every plane starts from bias[c] when bias is given.
template <class T>
Tensor<T> col2im(const T* cols, const ConvGeometry& g, const std::type_identity_t<T>* bias = nullptr) {
  using A = acc_t<T>;
  Tensor<T> img = Tensor<T>::empty({g.n, g.c, g.h, g.w});
  T* ip = img.data();
#pragma omp parallel for collapse(2) if (g.rows() * g.cols() > (1 << 16)) schedule(static)
  for (int64_t b = 0; b < g.n; ++b)
    for (int64_t ci = 0; ci < g.c; ++ci) {
      std::vector<A> acc(size_t(g.h * g.w), bias ? A(bias[ci]) : A(0));
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          const T* src = cols + ((ci * g.kh + i) * g.kw + j) * g.cols() + b * g.oh * g.ow;
          for (int64_t y = 0; y < g.oh; ++y) {
            const int64_t iy = y * g.sh - g.ph + i * g.dh;
            if (iy < 0 || iy >= g.h) continue;
            for (int64_t x = 0; x < g.ow; ++x) {
              const int64_t ix = x * g.sw - g.pw + j * g.dw;
              if (ix >= 0 && ix < g.w) acc[size_t(iy * g.w + ix)] += A(src[y * g.ow + x]);
            }
          }
        }
      T* dst = ip + (b * g.c + ci) * g.h * g.w;
      for (int64_t k = 0; k < g.h * g.w; ++k) dst[k] = T(acc[size_t(k)]);
    }
  return img;
}

// src: [a, b, l] -> [b, a, l], plus bias[i] on src's row i when given: moves between the batch-major image
// layout [N, C, H·W] and the channel-major [C, N·H·W] layout the GEMMs use.
template <class T>
Tensor<T> swap_leading(const T* src, int64_t a, int64_t b, int64_t l, const std::type_identity_t<T>* bias = nullptr) {
  using A = acc_t<T>;
  Tensor<T> out = Tensor<T>::empty({b, a, l});
  T* op = out.data();
#pragma omp parallel for collapse(2) if (a * b * l > (1 << 16)) schedule(static)
  for (int64_t i = 0; i < a; ++i)
    for (int64_t k = 0; k < b; ++k) {
      const T* s = src + (i * b + k) * l;
      T* d = op + (k * a + i) * l;
      if (bias)
        for (int64_t m = 0; m < l; ++m) d[m] = T(A(s[m]) + A(bias[i]));
      else
        std::copy(s, s + l, d);
    }
  return out;
}

// Checks the input [N, C, H, W], the 4-D weight (its dim in_dim must match C) and the bias [weight dim out_dim].
template <class T>
void check_conv_args(const char* op, const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& bias,
                     const char* w_layout, int64_t in_dim, int64_t out_dim) {
  require_cpu(op, x, w);
  if (bias.defined()) require_cpu(op, bias);
  check(x.dim() == 4, op, ": input ", x.shape(), " must be 4-D [N, C_in, H, W]");
  check(w.dim() == 4, op, ": weight ", w.shape(), " must be 4-D ", w_layout);
  check(x.size(1) == w.size(in_dim), op, ": input ", x.shape(), " has ", x.size(1), " channels but weight ", w.shape(),
        " expects ", w.size(in_dim));
  check(!bias.defined() || bias.shape() == Shape{w.size(out_dim)}, op, ": bias ", bias.defined() ? bias.shape() : Shape{},
        " does not match weight ", w.shape(), " (expected [", w.size(out_dim), "])");
}

inline void check_conv_options(const char* op, const Size2& stride, const Size2& padding, const Size2& dilation) {
  check(stride.h >= 1 && stride.w >= 1 && dilation.h >= 1 && dilation.w >= 1 && padding.h >= 0 && padding.w >= 0, op,
        ": stride ", stride.shape(), " and dilation ", dilation.shape(), " must be >= 1 and padding ",
        padding.shape(), " >= 0");
}

}  // namespace detail

// x: [N, C_in, H, W], w: [C_out, C_in, kH, kW], bias: [C_out] (undefined = none) -> [N, C_out, H_out, W_out]
// with H_out = (H + 2·pad − dil·(kH − 1) − 1)/stride + 1 (likewise W_out).
template <Floating T>
Tensor<T> conv2d(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& bias = {}, const Conv2dOptions& o = {}) {
  detail::check_conv_args("conv2d", x, w, bias, "[C_out, C_in, kH, kW]", 1, 0);
  detail::check_conv_options("conv2d", o.stride, o.padding, o.dilation);
  const int64_t N = x.size(0), H = x.size(2), W = x.size(3), cout = w.size(0), kh = w.size(2), kw = w.size(3);
  const int64_t span_h = o.dilation.h * (kh - 1) + 1, span_w = o.dilation.w * (kw - 1) + 1;
  check(H + 2 * o.padding.h >= span_h && W + 2 * o.padding.w >= span_w, "conv2d: kernel ", Shape{kh, kw},
        " of weight ", w.shape(), " with dilation ", o.dilation.shape(), " spans ", Shape{span_h, span_w},
        ", more than input ", x.shape(), " padded by ", o.padding.shape());
  const detail::ConvGeometry geo{N, x.size(1), H, W, kh, kw, o.stride.h, o.stride.w, o.padding.h, o.padding.w,
                                 o.dilation.h, o.dilation.w, (H + 2 * o.padding.h - span_h) / o.stride.h + 1,
                                 (W + 2 * o.padding.w - span_w) / o.stride.w + 1};
  Tensor<T> out;
  {
    NoGrad ng;
    Tensor<T> xc = x.contiguous(), wc = w.contiguous(), bc = bias.defined() ? bias.contiguous() : Tensor<T>();
    Tensor<T> y = matmul(wc.view({cout, geo.rows()}), detail::im2col(xc.data(), geo)).contiguous();  // [C_out, N·L]
    out = detail::swap_leading(y.data(), cout, N, geo.oh * geo.ow, bc.defined() ? bc.data() : nullptr)
              .view({N, cout, geo.oh, geo.ow});
  }
  autograd::record("conv2d", out, [x, w, bias, geo](const Tensor<T>& g) {
    NoGrad ng;
    const int64_t cout = w.size(0);
    Tensor<T> gc = g.contiguous();
    Tensor<T> g2 = detail::swap_leading(gc.data(), geo.n, cout, geo.oh * geo.ow).view({cout, geo.cols()});
    if (x.requires_grad()) {
      Tensor<T> gcols = matmul(w.contiguous().view({cout, geo.rows()}).mT(), g2).contiguous();
      autograd::accumulate(x, detail::col2im(gcols.data(), geo));
    }
    if (w.requires_grad()) {
      Tensor<T> xc = x.contiguous();
      autograd::accumulate(w, matmul(g2, detail::im2col(xc.data(), geo).mT()).reshape(w.shape()));
    }
    if (bias.defined()) autograd::accumulate(bias, sum(g, {0, 2, 3}));
  }, x, w, bias);
  return out;
}

// x: [N, C_in, H, W], w: [C_in, C_out, kH, kW], bias: [C_out] (undefined = none) -> [N, C_out, H_out, W_out]
// with H_out = (H − 1)·stride − 2·pad + dil·(kH − 1) + output_padding + 1: the adjoint of conv2d with the same w.
template <Floating T>
Tensor<T> conv_transpose2d(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& bias = {},
                           const ConvTranspose2dOptions& o = {}) {
  detail::check_conv_args("conv_transpose2d", x, w, bias, "[C_in, C_out, kH, kW]", 0, 1);
  detail::check_conv_options("conv_transpose2d", o.stride, o.padding, o.dilation);
  const Size2 op = o.output_padding;
  check(op.h >= 0 && op.w >= 0 && (op.h < o.stride.h || op.h < o.dilation.h) &&
            (op.w < o.stride.w || op.w < o.dilation.w),
        "conv_transpose2d: output_padding ", op.shape(), " must be >= 0 and smaller than stride ", o.stride.shape(),
        " or dilation ", o.dilation.shape());
  const int64_t N = x.size(0), cin = x.size(1), H = x.size(2), W = x.size(3), cout = w.size(1), kh = w.size(2),
                kw = w.size(3);
  const int64_t OH = (H - 1) * o.stride.h - 2 * o.padding.h + o.dilation.h * (kh - 1) + op.h + 1;
  const int64_t OW = (W - 1) * o.stride.w - 2 * o.padding.w + o.dilation.w * (kw - 1) + op.w + 1;
  check(OH >= 1 && OW >= 1, "conv_transpose2d: input ", x.shape(), " and weight ", w.shape(), " with padding ",
        o.padding.shape(), " give an empty output ", Shape{N, cout, OH, OW});
  const detail::ConvGeometry geo{N, cout, OH, OW, kh, kw, o.stride.h, o.stride.w, o.padding.h, o.padding.w,
                                 o.dilation.h, o.dilation.w, H, W};
  Tensor<T> out;
  {
    NoGrad ng;
    Tensor<T> xc = x.contiguous(), wc = w.contiguous(), bc = bias.defined() ? bias.contiguous() : Tensor<T>();
    Tensor<T> x2 = detail::swap_leading(xc.data(), N, cin, H * W).view({cin, geo.cols()});
    Tensor<T> cols = matmul(wc.view({cin, geo.rows()}).mT(), x2).contiguous();  // [C_out·kH·kW, N·H·W]
    out = detail::col2im(cols.data(), geo, bc.defined() ? bc.data() : nullptr);
  }
  autograd::record("conv_transpose2d", out, [x, w, bias, geo](const Tensor<T>& g) {
    NoGrad ng;
    const int64_t cin = x.size(1);
    Tensor<T> gc = g.contiguous();
    Tensor<T> gcols = detail::im2col(gc.data(), geo);  // [C_out·kH·kW, N·H·W]
    if (x.requires_grad()) {
      Tensor<T> gx2 = matmul(w.contiguous().view({cin, geo.rows()}), gcols).contiguous();
      autograd::accumulate(x, detail::swap_leading(gx2.data(), cin, geo.n, geo.oh * geo.ow).view(x.shape()));
    }
    if (w.requires_grad()) {
      Tensor<T> xc = x.contiguous();
      Tensor<T> x2 = detail::swap_leading(xc.data(), geo.n, cin, geo.oh * geo.ow).view({cin, geo.cols()});
      autograd::accumulate(w, matmul(x2, gcols.mT()).reshape(w.shape()));
    }
    if (bias.defined()) autograd::accumulate(bias, sum(g, {0, 2, 3}));
  }, x, w, bias);
  return out;
}

}  // namespace unigen
