#pragma once
// Matrix products: matmul (batched, broadcast batch dims, transposed views read in place) and linear.
#include <vector>

#include "unigen/backend/cpu/gemm.hpp"
#include "unigen/ops/reduce.hpp"

namespace unigen {

namespace detail {

// How a GEMM reads the last two dims of a tensor: row-major (trans = false, ld = row stride) or as
// the transpose of a row-major matrix (trans = true, ld = column stride).
struct MatrixLayout {
  bool ok = false, trans = false;
  int64_t ld = 0;
};
inline MatrixLayout matrix_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  if ((cs == 1 || cols == 1) && (rs >= cols || rows == 1) && rs > 0) return {true, false, std::max(rs, cols)};
  if ((rs == 1 || rows == 1) && (cs >= rows || cols == 1) && cs > 0) return {true, true, std::max(cs, rows)};
  return {};
}

// C[M,N] = alpha·op(A)·op(B) + beta·C (+ bias[N] on every row, unless nullptr), row-major, for any element
// type: f32 runs the packed SIMD GEMM, f64 a plain loop (it serves gradient checks), 16-bit types are
// widened to f32.
template <class T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, double beta, T* C, int64_t ldc, const T* bias = nullptr) {
  if constexpr (std::is_same_v<T, float>) {
    cpu::sgemm(ta, tb, M, N, K, float(alpha), A, lda, B, ldb, float(beta), C, ldc, bias);
  } else if constexpr (std::is_same_v<T, double>) {
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < N; ++j)
        C[i * ldc + j] = (beta == 0 ? 0.0 : beta * C[i * ldc + j]) + (bias ? bias[j] : 0.0);
      for (int64_t k = 0; k < K; ++k) {
        double av = alpha * (ta ? A[k * lda + i] : A[i * lda + k]);
        for (int64_t j = 0; j < N; ++j) C[i * ldc + j] += av * (tb ? B[j * ldb + k] : B[k * ldb + j]);
      }
    }
  } else {
    auto widen = [](const T* p, int64_t rows, int64_t cols, int64_t ld) {
      std::vector<float> w(size_t(rows * cols));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) w[size_t(r * cols + c)] = float(p[r * ld + c]);
      return w;
    };
    std::vector<float> a = widen(A, ta ? K : M, ta ? M : K, lda), b = widen(B, tb ? N : K, tb ? K : N, ldb);
    std::vector<float> c = widen(C, M, N, ldc), bf = bias ? widen(bias, 1, N, N) : std::vector<float>();
    cpu::sgemm(ta, tb, M, N, K, float(alpha), a.data(), ta ? M : K, b.data(), tb ? K : N, float(beta), c.data(), N,
               bias ? bf.data() : nullptr);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = T(c[size_t(i * N + j)]);
  }
}

// a: [..., M, K], b: [..., K, N] (both at least 2-D) -> [broadcast(...), M, N]; not recorded.
template <class T>
Tensor<T> matmul_kernel(Tensor<T> a, Tensor<T> b) {
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  Shape ab(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(ab, bb, "matmul");
  MatrixLayout la = matrix_layout(M, K, a.stride(-2), a.stride(-1));
  if (!la.ok) a = a.contiguous(), la = matrix_layout(M, K, a.stride(-2), a.stride(-1));
  MatrixLayout lb = matrix_layout(K, N, b.stride(-2), b.stride(-1));
  if (!lb.ok) b = b.contiguous(), lb = matrix_layout(K, N, b.stride(-2), b.stride(-1));
  Shape os = batch;
  os.push_back(M);
  os.push_back(N);
  Tensor<T> out = Tensor<T>::empty(os);
  if (out.numel() == 0) return out;
  if (K == 0) return out.fill_(0.0);
  Shape ast = broadcast_strides(ab, Shape(a.strides().begin(), a.strides().end() - 2), batch);
  Shape bst = broadcast_strides(bb, Shape(b.strides().begin(), b.strides().end() - 2), batch);
  Shape ost = contiguous_strides(batch);
  for (auto& s : ost) s *= M * N;
  std::vector<std::array<int64_t, 3>> items;
  cpu::strided_for_each<3>(batch, {ast.data(), bst.data(), ost.data()}, {a.offset(), b.offset(), 0},
                           [&](const std::array<int64_t, 3>& o) { items.push_back(o); });
  const T* pa = a.impl().storage.get();
  const T* pb = b.impl().storage.get();
  T* po = out.data();
  const int64_t count = int64_t(items.size());
  auto product = [&](int64_t i) {
    const auto& o = items[size_t(i)];
    gemm<T>(la.trans, lb.trans, M, N, K, 1.0, pa + o[0], la.ld, pb + o[1], lb.ld, 0.0, po + o[2], N);
  };
  // Many small products: one thread per product. Few large ones: the GEMM threads itself, called from
  // outside any parallel region (from inside even an inactive one it would run serially).
  if (count > 1 && M * N * K < (1 << 20)) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) product(i);
  } else {
    for (int64_t i = 0; i < count; ++i) product(i);
  }
  return out;
}

}  // namespace detail

// Matrix product with NumPy semantics: a: [..., M, K], b: [..., K, N] -> [..., M, N]; a 1-D operand
// is a row (a) or column (b) vector whose dim is dropped from the result.
template <Floating T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b) {
  detail::require_cpu("matmul", a, b);
  check(a.dim() >= 1 && b.dim() >= 1, "matmul: scalar operand, shapes ", a.shape(), " and ", b.shape());
  if (a.dim() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  if (b.dim() == 1) return matmul(a, b.unsqueeze(-1)).squeeze(-1);
  check(a.size(-1) == b.size(-2), "matmul: shapes ", a.shape(), " and ", b.shape(), " do not match (K ", a.size(-1),
        " vs ", b.size(-2), ")");
  Tensor<T> out = detail::matmul_kernel(a, b);
  autograd::record("matmul", out, [a, b](const Tensor<T>& g) {
    if (a.requires_grad()) autograd::accumulate(a, sum_to(detail::matmul_kernel(g, b.mT()), a.shape()));
    if (b.requires_grad()) autograd::accumulate(b, sum_to(detail::matmul_kernel(a.mT(), g), b.shape()));
  }, a, b);
  return out;
}

// Affine map: x: [..., in], w: [out, in], bias: [out] (undefined = none) -> [..., out].
template <Floating T>
Tensor<T> linear(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& bias = {}) {
  detail::require_cpu("linear", x, w);
  check(w.dim() == 2 && x.dim() >= 1 && x.size(-1) == w.size(1), "linear: input ", x.shape(), " and weight ",
        w.shape(), " do not match (weight must be [out, in])");
  check(!bias.defined() || (bias.dim() == 1 && bias.size(0) == w.size(0)), "linear: bias ",
        bias.defined() ? bias.shape() : Shape{}, " does not match weight ", w.shape());
  const int64_t in = w.size(1), outf = w.size(0);
  Tensor<T> x2 = x.reshape({-1, in});
  const int64_t n = x2.size(0);
  Tensor<T> out2 = Tensor<T>::empty({n, outf});
  const Tensor<T> b = bias.defined() ? bias.detach().contiguous() : Tensor<T>();
  if (n > 0) {
    auto la = detail::matrix_layout(n, in, x2.stride(0), x2.stride(1));
    if (!la.ok) x2 = x2.detach().contiguous(), la = detail::matrix_layout(n, in, x2.stride(0), x2.stride(1));
    auto lw = detail::matrix_layout(outf, in, w.stride(0), w.stride(1));
    Tensor<T> wc = lw.ok ? w : w.detach().contiguous();
    if (!lw.ok) lw = detail::matrix_layout(outf, in, wc.stride(0), wc.stride(1));
    detail::gemm<T>(la.trans, !lw.trans, n, outf, in, 1.0, x2.data(), la.ld, wc.data(), lw.ld, 0.0, out2.data(), outf,
                    b.defined() ? b.data() : nullptr);
  }
  Shape os = x.shape();
  os.back() = outf;
  Tensor<T> out = out2.detach().view(os);
  autograd::record("linear", out, [x, w, bias, in, outf](const Tensor<T>& g) {
    Tensor<T> g2 = g.reshape({-1, outf});
    if (x.requires_grad()) autograd::accumulate(x, detail::matmul_kernel(g2, w).view(x.shape()));
    if (w.requires_grad()) autograd::accumulate(w, detail::matmul_kernel(g2.mT(), x.reshape({-1, in})));
    if (bias.defined() && bias.requires_grad()) autograd::accumulate(bias, sum(g2, {0}));
  }, x, w, bias);
  return out;
}

}  // namespace unigen
