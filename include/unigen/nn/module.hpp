#pragma once
// Module: a named tree of parameters and sub-modules, with train/eval mode.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "unigen/core/tensor.hpp"

namespace unigen::nn {

template <Floating T>
class Module {
 public:
  virtual ~Module() = default;

  // Every trainable parameter below this module, named by its path ("blocks.0.attn.qkv.weight").
  std::vector<std::pair<std::string, Tensor<T>>> named_parameters() const {
    std::vector<std::pair<std::string, Tensor<T>>> out = params_;
    for (const auto& [name, child] : children_)
      for (auto& [n, p] : child->named_parameters()) out.emplace_back(name + "." + n, p);
    return out;
  }
  std::vector<Tensor<T>> parameters() const {
    std::vector<Tensor<T>> out;
    for (auto& [n, p] : named_parameters()) out.push_back(p);
    return out;
  }
  int64_t num_parameters() const {
    int64_t n = 0;
    for (auto& p : parameters()) n += p.numel();
    return n;
  }
  void zero_grad() {
    for (auto& p : parameters()) p.zero_grad();
  }
  // Training mode turns dropout on; eval mode off. Applies to the whole tree.
  void train(bool on = true) {
    training_ = on;
    for (auto& [n, c] : children_) c->train(on);
  }
  void eval() { train(false); }
  bool training() const { return training_; }

 protected:
  Tensor<T> register_parameter(std::string name, Tensor<T> t) {
    t.set_requires_grad(true);
    params_.emplace_back(std::move(name), t);
    return t;
  }
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> m) {
    children_.emplace_back(std::move(name), m);
    return m;
  }

 private:
  std::vector<std::pair<std::string, Tensor<T>>> params_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace unigen::nn
