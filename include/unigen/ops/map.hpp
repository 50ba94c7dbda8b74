#pragma once
// Elementwise kernel plumbing shared by the ops: device checks and the broadcasting n-ary map.
#include <array>
#include <tuple>
#include <utility>

#include "unigen/core/tensor.hpp"

namespace unigen::detail {

// Ops run where their inputs are; until the CUDA backend is compiled in, that must be the CPU.
template <class... Ts>
void require_cpu(const char* op, const Ts&... ts) {
  auto one = [&](const auto& t) {
    check(t.device().is_cpu(), op, ": tensor on ", t.device().str(),
          " but this build has only the CPU backend (compile with nvcc for CUDA)");
  };
  (one(ts), ...);
}

template <class Out, class F, class... Ts, size_t... I>
Tensor<Out> map_impl(const char* op, F& f, std::index_sequence<I...>, const Tensor<Ts>&... in) {
  require_cpu(op, in...);
  Shape shape;
  ((shape = broadcast_shapes(shape, in.shape(), op)), ...);
  Tensor<Out> out = Tensor<Out>::empty(shape);
  Out* o = out.data();
  const int64_t n = out.numel();
  auto base = std::make_tuple(in.impl().storage.get()...);
  if (((in.shape() == shape && in.is_contiguous()) && ...)) {
    std::array<int64_t, sizeof...(Ts)> offs{in.offset()...};
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
    for (int64_t i = 0; i < n; ++i) o[i] = Out(f(static_cast<acc_t<Ts>>(std::get<I>(base)[offs[I] + i])...));
    return out;
  }
  constexpr size_t N = 1 + sizeof...(Ts);
  Shape ost = contiguous_strides(shape);
  std::array<Shape, sizeof...(Ts)> st{broadcast_strides(in.shape(), in.strides(), shape)...};
  std::array<const int64_t*, N> sp{ost.data(), st[I].data()...};
  cpu::strided_for_each_parallel<N>(shape, sp, std::array<int64_t, N>{0, in.offset()...}, [&](const std::array<int64_t, N>& off) {
    o[off[0]] = Out(f(static_cast<acc_t<Ts>>(std::get<I>(base)[off[I + 1]])...));
  });
  return out;
}

// out = f(in...) elementwise over the broadcast shape of all inputs; f takes each input's compute
// type (acc_t) and its result is converted to Out. The output is a new dense tensor.
template <class Out, class F, class... Ts>
Tensor<Out> map_as(const char* op, F f, const Tensor<Ts>&... in) {
  return map_impl<Out>(op, f, std::index_sequence_for<Ts...>{}, in...);
}

// map_as with the element type of the first input.
template <class F, class T0, class... Ts>
Tensor<T0> map(const char* op, F f, const Tensor<T0>& a, const Tensor<Ts>&... rest) {
  return map_as<T0>(op, f, a, rest...);
}

}  // namespace unigen::detail
