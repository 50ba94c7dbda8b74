#pragma once
// Optimisers and schedules: AdamW, SGD, gradient-norm clipping, warmup-cosine and constant learning rates.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "unigen/backend/cpu/vec_math.hpp"
#include "unigen/core/tensor.hpp"

namespace unigen::optim {

struct AdamWOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;
};

// AdamW (decoupled weight decay): p -= lr·(m̂/(sqrt(v̂)+eps) + wd·p). Parameters without a gradient are skipped.
template <Floating T>
class AdamW {
 public:
  AdamW(std::vector<Tensor<T>> params, AdamWOptions opt = {}) : params_(std::move(params)), opt_(opt) {
    for (auto& p : params_) {
      check(p.is_leaf() && p.requires_grad(), "AdamW: every parameter must be a leaf that requires grad, got shape ",
            p.shape());
      m_.push_back(std::vector<acc_t<T>>(size_t(p.numel()), 0));
      v_.push_back(std::vector<acc_t<T>>(size_t(p.numel()), 0));
    }
  }
  void step() {
    using A = acc_t<T>;
    ++t_;
    const A b1 = A(opt_.beta1), b2 = A(opt_.beta2), lr = A(opt_.lr), wd = A(opt_.weight_decay), eps = A(opt_.eps);
    const A c1 = A(1) / (A(1) - std::pow(b1, A(t_))), c2 = A(1) / (A(1) - std::pow(b2, A(t_)));
    for (size_t k = 0; k < params_.size(); ++k) {
      Tensor<T>& p = params_[k];
      Tensor<T> g = p.grad();
      if (!g.defined()) continue;
      check(p.is_contiguous(), "AdamW: parameter of shape ", p.shape(), " is not contiguous");
      T* pd = p.data();
      const T* gd = g.data();
      A *m = m_[k].data(), *v = v_[k].data();
      const int64_t n = p.numel();
      const cpu::AdamWCoef<A> coef{b1, b2, lr, c1, c2, eps, wd};
      if constexpr (std::is_same_v<T, float>) {  // vectors, chunks of 16 Ki per thread
        constexpr int64_t chunk = 16384;
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
        for (int64_t i = 0; i < n; i += chunk)
          cpu::adamw_row(pd + i, gd + i, m + i, v + i, std::min(chunk, n - i), coef);
      } else {  // double, or a 16-bit parameter updated in float
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
        for (int64_t i = 0; i < n; ++i) {
          A pi = A(pd[i]);
          cpu::adamw_update(pi, A(gd[i]), m[i], v[i], coef);
          pd[i] = T(pi);
        }
      }
    }
  }
  void zero_grad() {
    for (auto& p : params_) p.zero_grad();
  }
  void set_lr(double lr) { opt_.lr = lr; }
  double lr() const { return opt_.lr; }
  int64_t steps() const { return t_; }

 private:
  std::vector<Tensor<T>> params_;
  AdamWOptions opt_;
  std::vector<std::vector<acc_t<T>>> m_, v_;
  int64_t t_ = 0;
};

// Scales all gradients together so their global L2 norm is at most max_norm; returns the norm before clipping.
template <Floating T>
double clip_grad_norm(const std::vector<Tensor<T>>& params, double max_norm) {
  double sq = 0;
  for (const auto& p : params)
    if (p.grad().defined())
      for (auto g : p.grad().to_vector()) sq += double(acc_t<T>(g)) * double(acc_t<T>(g));
  double norm = std::sqrt(sq);
  if (norm > max_norm && norm > 0) {
    NoGrad ng;
    for (const auto& p : params)
      if (p.grad().defined()) p.grad().mul_(max_norm / (norm + 1e-6));
  }
  return norm;
}

// Linear warmup from 0 to base_lr over `warmup` steps, then cosine decay to min_lr at `total` steps.
struct WarmupCosine {
  double base_lr;
  int64_t warmup, total;
  double min_lr = 0.0;
  double operator()(int64_t step) const {
    if (step < warmup) return base_lr * double(step + 1) / double(warmup);
    if (step >= total) return min_lr;
    double t = double(step - warmup) / double(std::max<int64_t>(1, total - warmup));
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + std::cos(M_PI * t));
  }
};

// The same learning rate at every step (stage 2 of the paper's training).
struct ConstantLR {
  double lr;
  double operator()(int64_t) const { return lr; }
};

}  // namespace unigen::optim
