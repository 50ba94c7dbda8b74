#pragma once
// Recording ops into the graph, routing gradients to inputs, and the reverse-mode backward pass.
#include <memory>
#include <unordered_set>
#include <utility>
#include <vector>

#include "unigen/core/tensor.hpp"

namespace unigen::autograd {

// A node that knows its output's element type, so it can hold the output gradient.
template <class T>
struct TypedNode : Node {
  Tensor<T> grad;
  bool owned = false;  // grad is a private dense buffer that may be added to in place
  // While slice_dim >= 0, grad was allocated uninitialised by accumulate_slice and only the indices of
  // dim slice_dim marked in `written` hold values; settle() zero-fills the rest before grad is read whole.
  int64_t slice_dim = -1;
  std::vector<bool> written;
  bool has_grad() const override { return grad.defined(); }
  void clear_grad() override {
    grad = Tensor<T>();
    owned = false;
    slice_dim = -1;
    written.clear();
  }
  // Makes grad whole: zeros in every run of indices along slice_dim that no slice wrote.
  void settle() {
    if (slice_dim < 0) return;
    NoGrad guard;
    const int64_t n = int64_t(written.size());
    for (int64_t i = 0; i < n;) {
      int64_t j = i;
      while (j < n && written[size_t(j)] == written[size_t(i)]) ++j;
      if (!written[size_t(i)]) grad.slice(slice_dim, i, j).fill_(0.0);
      i = j;
    }
    slice_dim = -1;
    written.clear();
  }
};

// An op's inputs are tensors or, for ops over a runtime number of inputs (concat), vectors of tensors.
// An undefined tensor stands for an absent optional input (a missing bias) and needs no gradient.
template <class T>
bool input_requires_grad(const Tensor<T>& t) {
  return t.defined() && t.requires_grad();
}
template <class T>
bool input_requires_grad(const std::vector<Tensor<T>>& ts) {
  for (const auto& t : ts)
    if (t.requires_grad()) return true;
  return false;
}
template <class T>
void add_edges(Node& n, const Tensor<T>& t) {
  if (t.defined() && t.grad_fn()) n.next.push_back(t.grad_fn());
}
template <class T>
void add_edges(Node& n, const std::vector<Tensor<T>>& ts) {
  for (const auto& t : ts) add_edges(n, t);
}
template <class... In>
bool any_requires_grad(const In&... ins) {
  return (input_requires_grad(ins) || ...);
}

// Records `out` as produced by op `name` from `ins` (tensors or vectors of tensors): in backward, fn(grad_of_out) is called and must
// accumulate each input's gradient. Records nothing when grad mode is off or no input needs a gradient.
template <class T, class F, class... In>
void record(const char* name, Tensor<T>& out, F fn, const In&... ins) {
  if (!GradMode::enabled() || !any_requires_grad(ins...)) return;
  auto node = std::make_shared<TypedNode<T>>();
  node->name = name;
  (add_edges(*node, ins), ...);
  TypedNode<T>* self = node.get();
  node->apply = [self, fn = std::move(fn)]() {
    self->settle();
    fn(self->grad);
  };
  out.impl().grad_fn = node;
  out.impl().requires_grad = true;
}

// The dense gradient buffer of `input` that may be added to in place: the producing node's pending
// gradient or the leaf's .grad(), created as zeros (or made private) when needed.
template <class T>
Tensor<T> owned_grad(const Tensor<T>& input) {
  if (auto& fn = input.grad_fn()) {
    auto* node = static_cast<TypedNode<T>*>(fn.get());
    node->settle();
    if (!node->grad.defined()) node->grad = Tensor<T>::zeros(input.shape());
    else if (!node->owned) node->grad = node->grad.clone();
    node->owned = true;
    return node->grad;
  }
  auto& impl = input.impl();
  if (!impl.grad) impl.grad = Tensor<T>::zeros(input.shape()).impl_ptr();
  return Tensor<T>(impl.grad);
}

// Adds `grad` (shape of `input`) into the gradient of `input`: the node that produced it, or the
// leaf's .grad(). Inputs that need no gradient are skipped. A node's first gradient is kept as given
// (no copy); a leaf's is copied, so .grad() is always a dense tensor of its own.
template <class T>
void accumulate(const Tensor<T>& input, const Tensor<T>& grad) {
  if (!input_requires_grad(input)) return;
  check(grad.shape() == input.shape(), "autograd: gradient of shape ", grad.shape(), " for an input of shape ",
        input.shape(), (input.grad_fn() ? " (produced by " + input.grad_fn()->name + ")" : std::string()));
  NoGrad guard;
  if (auto& fn = input.grad_fn()) {
    auto* node = static_cast<TypedNode<T>*>(fn.get());
    if (!node->grad.defined()) {
      node->grad = grad;
      return;
    }
    if (!node->owned) {  // a second gradient (a residual's): the sum in one pass, not a copy then an add
      const Tensor<T>& first = node->grad;
      Tensor<T> sum = Tensor<T>::empty(input.shape());
      const T *a = first.impl().storage.get(), *b = grad.impl().storage.get();
      T* d = sum.data();
      cpu::strided_for_each_parallel<3>(sum.shape(),
                                        {sum.strides().data(), first.strides().data(), grad.strides().data()},
                                        {0, first.offset(), grad.offset()},
                                        [&](auto o) { d[o[0]] = T(acc_t<T>(a[o[1]]) + acc_t<T>(b[o[2]])); });
      node->grad = std::move(sum);
      node->owned = true;
      return;
    }
  } else if (!input.impl().grad) {
    input.impl().grad = grad.clone().impl_ptr();
    return;
  }
  owned_grad(input).add_(grad);
}

// The same for a gradient the caller gives up: a leaf's first gradient that nothing else holds (a
// fresh, dense result, as most backward functions produce) becomes its .grad() without the copy.
template <class T>
void accumulate(const Tensor<T>& input, Tensor<T>&& grad) {
  const auto& g = grad.impl();
  const bool sole = grad.impl_ptr().use_count() == 1 && g.storage.use_count() == 1 && g.offset == 0 &&
                    g.capacity == grad.numel() && grad.is_contiguous() && !g.requires_grad && !g.grad_fn;
  if (sole && input_requires_grad(input) && !input.grad_fn() && !input.impl().grad && grad.shape() == input.shape()) {
    input.impl().grad = grad.impl_ptr();
    return;
  }
  accumulate(input, static_cast<const Tensor<T>&>(grad));
}

// Adds `grad` into the part of `input`'s gradient that input.slice(dim, start, end, step) views: the
// adjoint of a slice without a zero tensor of the whole input per slice (split, chunk and select of
// one tensor share one buffer). Contiguous slices of a node's output along one dim (the q, k and v
// thirds of attention's projection) are copied into an uninitialised buffer, and added where an
// earlier slice already wrote; only what none of them covers is zero-filled, once, when the
// gradient is read whole (TypedNode::settle).
template <class T>
void accumulate_slice(const Tensor<T>& input, int64_t dim, int64_t start, int64_t end, int64_t step,
                      const Tensor<T>& grad) {
  if (!input_requires_grad(input)) return;
  NoGrad guard;
  auto* node = input.grad_fn() ? static_cast<TypedNode<T>*>(input.grad_fn().get()) : nullptr;
  if (!node || step != 1 || (node->grad.defined() && node->slice_dim != dim)) {
    owned_grad(input).slice(dim, start, end, step).add_(grad);
    return;
  }
  if (!node->grad.defined()) {
    node->grad = Tensor<T>::empty(input.shape());
    node->owned = true;
    node->slice_dim = dim;
    node->written.assign(size_t(input.size(dim)), false);
  }
  for (int64_t i = start; i < end;) {  // runs of indices not yet written (copied) and written (added)
    const bool was = node->written[size_t(i)];
    int64_t j = i;
    while (j < end && node->written[size_t(j)] == was) node->written[size_t(j++)] = true;
    Tensor<T> to = node->grad.slice(dim, i, j);
    const Tensor<T> from = grad.narrow(dim, i - start, j - i);
    was ? to.add_(from) : to.copy_(from);
    i = j;
  }
}

// Runs the backward pass from `root`, whose gradient is `grad`. Nodes run in reverse topological
// order; each node's output gradient is dropped once used. Unless retain_graph, the graph's saved
// tensors are released afterwards and a second backward through it is an error.
template <class T>
void run_backward(const Tensor<T>& root, const Tensor<T>& grad, bool retain_graph) {
  check(root.requires_grad(), "backward: the tensor does not require grad and has no graph");
  check(grad.shape() == root.shape(), "backward: gradient of shape ", grad.shape(), " for a tensor of shape ",
        root.shape());
  if (!root.grad_fn()) {
    accumulate(root, grad);
    return;
  }
  // Post-order DFS gives every node after the nodes producing its inputs.
  std::vector<Node*> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<Node*, size_t>> stack{{root.grad_fn().get(), 0}};
  seen.insert(root.grad_fn().get());
  while (!stack.empty()) {
    auto& [n, i] = stack.back();
    if (i < n->next.size()) {
      Node* c = n->next[i++].get();
      if (seen.insert(c).second) stack.push_back({c, 0});
    } else {
      order.push_back(n);
      stack.pop_back();
    }
  }
  for (Node* n : order)
    check(bool(n->apply), "backward: the graph through op '", n->name,
          "' was already freed by an earlier backward; pass retain_graph=true to the first one to keep it");
  accumulate(root, grad);
  {
    NoGrad guard;
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      Node* n = *it;
      if (n->has_grad()) n->apply();
      n->clear_grad();
    }
  }
  if (!retain_graph)
    for (Node* n : order) {
      n->apply = nullptr;
      n->next.clear();
    }
}

}  // namespace unigen::autograd
