#pragma once
// The layers the models are built from: Linear, LayerNorm, MultiHeadAttention, MLP, TransformerBlock.
#include <cmath>
#include <memory>

#include "unigen/nn/module.hpp"
#include "unigen/ops/attention.hpp"
#include "unigen/ops/dropout.hpp"
#include "unigen/ops/norm.hpp"

namespace unigen::nn {

// y = x·Wᵀ + b; x: [..., in] -> [..., out]. Weights N(0, 0.02) as in BERT/GPT, bias 0.
template <Floating T>
class Linear : public Module<T> {
 public:
  Linear(int64_t in, int64_t out, Generator& g, bool bias = true, double init_std = 0.02) {
    weight = this->register_parameter("weight", Tensor<T>::randn({out, in}, g, 0.0, init_std));
    if (bias) this->bias = this->register_parameter("bias", Tensor<T>::zeros({out}));
  }
  Tensor<T> forward(const Tensor<T>& x) const { return linear(x, weight, bias); }
  Tensor<T> weight, bias;
};

// Normalises the last dim (size d) with learned scale and shift.
template <Floating T>
class LayerNorm : public Module<T> {
 public:
  explicit LayerNorm(int64_t d, double eps = 1e-5) : eps(eps) {
    weight = this->register_parameter("weight", Tensor<T>::ones({d}));
    bias = this->register_parameter("bias", Tensor<T>::zeros({d}));
  }
  Tensor<T> forward(const Tensor<T>& x) const { return layer_norm(x, weight, bias, eps); }
  Tensor<T> weight, bias;
  double eps;
};

// Multi-head self-attention with one fused q/k/v projection: x: [B, T, d] -> [B, T, d].
// mask: bool, broadcastable to [B, heads, T, T] (true = may attend); causal adds j <= i.
template <Floating T>
class MultiHeadAttention : public Module<T> {
 public:
  MultiHeadAttention(int64_t d, int64_t heads, Generator& g) : d(d), heads(heads) {
    check(heads > 0 && d % heads == 0, "MultiHeadAttention: model dim ", d, " is not divisible by ", heads, " heads");
    qkv = this->register_module("qkv", std::make_shared<Linear<T>>(d, 3 * d, g));
    proj = this->register_module("proj", std::make_shared<Linear<T>>(d, d, g));
  }
  Tensor<T> forward(const Tensor<T>& x, const Tensor<bool>& mask = {}, bool causal = false) const {
    check(x.dim() == 3 && x.size(2) == d, "MultiHeadAttention: input ", x.shape(), " is not [B, T, ", d, "]");
    const int64_t B = x.size(0), Tn = x.size(1), dh = d / heads;
    Tensor<T> h = qkv->forward(x).view({B, Tn, 3, heads, dh});
    auto part = [&](int64_t i) { return h.select(2, i).permute({0, 2, 1, 3}); };  // [B, heads, T, dh]
    Tensor<T> o = scaled_dot_product_attention(part(0), part(1), part(2), mask, causal);
    return proj->forward(o.permute({0, 2, 1, 3}).reshape({B, Tn, d}));
  }
  int64_t d, heads;
  std::shared_ptr<Linear<T>> qkv, proj;
};

// Position-wise feed-forward: d -> hidden -> d with GELU (exact form).
template <Floating T>
class MLP : public Module<T> {
 public:
  MLP(int64_t d, int64_t hidden, Generator& g) {
    fc1 = this->register_module("fc1", std::make_shared<Linear<T>>(d, hidden, g));
    fc2 = this->register_module("fc2", std::make_shared<Linear<T>>(hidden, d, g));
  }
  Tensor<T> forward(const Tensor<T>& x) const { return fc2->forward(gelu(fc1->forward(x))); }
  std::shared_ptr<Linear<T>> fc1, fc2;
};

// Pre-LN Transformer block: x + Drop(Attn(LN(x))), then x + Drop(MLP(LN(x))). Pre-LN (rather than
// the paper's post-LN BERT layers) because unigen trains from scratch, where pre-LN is stable
// without a long warmup. x: [B, T, d] -> [B, T, d].
template <Floating T>
class TransformerBlock : public Module<T> {
 public:
  TransformerBlock(int64_t d, int64_t heads, int64_t ffn, Generator& g, double dropout_p = 0.1)
      : dropout_p(dropout_p), gen(&g) {
    ln1 = this->register_module("ln1", std::make_shared<LayerNorm<T>>(d));
    attn = this->register_module("attn", std::make_shared<MultiHeadAttention<T>>(d, heads, g));
    ln2 = this->register_module("ln2", std::make_shared<LayerNorm<T>>(d));
    mlp = this->register_module("mlp", std::make_shared<MLP<T>>(d, ffn, g));
  }
  Tensor<T> forward(const Tensor<T>& x, const Tensor<bool>& mask = {}, bool causal = false) const {
    Tensor<T> h = x + dropout(attn->forward(ln1->forward(x), mask, causal), dropout_p, this->training(), *gen);
    return h + dropout(mlp->forward(ln2->forward(h)), dropout_p, this->training(), *gen);
  }
  double dropout_p;
  Generator* gen;
  std::shared_ptr<LayerNorm<T>> ln1, ln2;
  std::shared_ptr<MultiHeadAttention<T>> attn;
  std::shared_ptr<MLP<T>> mlp;
};

}  // namespace unigen::nn
