#pragma once
// Elementwise ops with NumPy broadcasting: arithmetic, activations, comparisons, where/masked_fill.
// Each op is its forward function and its derivative, side by side; unary_op / binary_op record the
// backward from them.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>

#include "unigen/backend/cpu/vec_math.hpp"
#include "unigen/ops/map.hpp"

namespace unigen {

namespace detail {

// A derivative that is 1 everywhere (add's, sub's for its first operand, add_scalar's): the backward
// passes the output's gradient on as it is (summed to the input's shape) instead of mapping g·1 into a
// new tensor, a pass over the residual stream's gradient less for every add of a Transformer block.
struct UnitDerivative {};

// y = f(x) elementwise; dfdx(x, y) is the derivative, used in backward as g * dfdx.
template <class T, class F, class D>
Tensor<T> unary_op(const char* op, const Tensor<T>& a, F f, D dfdx) {
  Tensor<T> out = map(op, f, a);
  if constexpr (Floating<T>) {
    autograd::record(op, out, [a, y = out.detach(), dfdx, op](const Tensor<T>& g) {
      if constexpr (std::is_same_v<D, UnitDerivative>)
        autograd::accumulate(a, g);
      else
        autograd::accumulate(a, map(op, [dfdx](auto gv, auto x, auto yv) { return gv * dfdx(x, yv); }, g, a, y));
    }, a);
  }
  return out;
}

// z = f(x, y) with broadcasting; dfdx(x, y, z) and dfdy(x, y, z) are the partial derivatives.
template <class T, class F, class DA, class DB>
Tensor<T> binary_op(const char* op, const Tensor<T>& a, const Tensor<T>& b, F f, DA dfdx, DB dfdy) {
  Tensor<T> out = map(op, f, a, b);
  if constexpr (Floating<T>) {
    autograd::record(op, out, [a, b, z = out.detach(), dfdx, dfdy, op](const Tensor<T>& g) {
      // g·d summed to the shape of `in`
      auto grad = [&](const Tensor<T>& in, auto d) {
        if constexpr (std::is_same_v<decltype(d), UnitDerivative>)
          return sum_to(g, in.shape());
        else
          return sum_to(map(op, [d](auto gv, auto x, auto y, auto zv) { return gv * d(x, y, zv); }, g, a, b, z),
                        in.shape());
      };
      if (a.requires_grad()) autograd::accumulate(a, grad(a, dfdx));
      if (b.requires_grad()) autograd::accumulate(b, grad(b, dfdy));
    }, a, b);
  }
  return out;
}

}  // namespace detail

template <class T> Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
  return detail::binary_op("add", a, b, [](auto x, auto y) { return x + y; },
                           detail::UnitDerivative{}, detail::UnitDerivative{});
}
template <class T> Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b) {
  return detail::binary_op("sub", a, b, [](auto x, auto y) { return x - y; },
                           detail::UnitDerivative{}, [](auto, auto, auto) { return -1; });
}
template <class T> Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b) {
  return detail::binary_op("mul", a, b, [](auto x, auto y) { return x * y; },
                           [](auto, auto y, auto) { return y; }, [](auto x, auto, auto) { return x; });
}
template <class T> Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b) {
  return detail::binary_op("div", a, b, [](auto x, auto y) { return x / y; },
                           [](auto, auto y, auto) { return 1 / y; }, [](auto, auto y, auto z) { return -z / y; });
}
// a^b elementwise (a > 0 where b is not an integer).
template <class T> Tensor<T> pow(const Tensor<T>& a, const Tensor<T>& b) {
  return detail::binary_op("pow", a, b, [](auto x, auto y) { return std::pow(x, y); },
                           [](auto x, auto y, auto) { return y * std::pow(x, y - 1); },
                           [](auto x, auto, auto z) { return z * std::log(x); });
}
template <class T> Tensor<T> pow(const Tensor<T>& a, double p) {
  using A = acc_t<T>;
  return detail::unary_op("pow", a, [p](auto x) { return std::pow(x, A(p)); },
                          [p](auto x, auto) { return A(p) * std::pow(x, A(p - 1)); });
}
template <class T> Tensor<T> add(const Tensor<T>& a, double s) {
  using A = acc_t<T>;
  return detail::unary_op("add_scalar", a, [s](auto x) { return x + A(s); }, detail::UnitDerivative{});
}
template <class T> Tensor<T> mul(const Tensor<T>& a, double s) {
  using A = acc_t<T>;
  return detail::unary_op("mul_scalar", a, [s](auto x) { return x * A(s); }, [s](auto, auto) { return A(s); });
}
template <class T> Tensor<T> neg(const Tensor<T>& a) {
  return detail::unary_op("neg", a, [](auto x) { return -x; }, [](auto x, auto) { return decltype(x)(-1); });
}
template <class T> Tensor<T> exp(const Tensor<T>& a) {
  return detail::unary_op("exp", a, [](auto x) { return std::exp(x); }, [](auto, auto y) { return y; });
}
template <class T> Tensor<T> log(const Tensor<T>& a) {
  return detail::unary_op("log", a, [](auto x) { return std::log(x); }, [](auto x, auto) { return 1 / x; });
}
template <class T> Tensor<T> sqrt(const Tensor<T>& a) {
  return detail::unary_op("sqrt", a, [](auto x) { return std::sqrt(x); }, [](auto, auto y) { return 1 / (2 * y); });
}
template <class T> Tensor<T> tanh(const Tensor<T>& a) {
  return detail::unary_op("tanh", a, [](auto x) { return std::tanh(x); }, [](auto, auto y) { return 1 - y * y; });
}
template <class T> Tensor<T> abs(const Tensor<T>& a) {
  return detail::unary_op("abs", a, [](auto x) { return std::abs(x); },
                          [](auto x, auto) { return decltype(x)(x > 0 ? 1 : x < 0 ? -1 : 0); });
}
// Limits to [lo, hi]; the gradient passes where lo <= x <= hi.
template <class T> Tensor<T> clamp(const Tensor<T>& a, double lo, double hi) {
  check(lo <= hi, "clamp: lo ", lo, " > hi ", hi);
  using A = acc_t<T>;
  return detail::unary_op("clamp", a, [lo, hi](auto x) { return std::min(std::max(x, A(lo)), A(hi)); },
                          [lo, hi](auto x, auto) { return A(x >= A(lo) && x <= A(hi) ? 1 : 0); });
}
template <class T> Tensor<T> relu(const Tensor<T>& a) {
  using A = acc_t<T>;
  return detail::unary_op("relu", a, [](auto x) { return x > 0 ? x : A(0); }, [](auto x, auto) { return A(x > 0); });
}
template <class T> Tensor<T> sigmoid(const Tensor<T>& a) {
  return detail::unary_op("sigmoid", a, [](auto x) { return 1 / (1 + std::exp(-x)); },
                          [](auto, auto y) { return y * (1 - y); });
}
template <class T> Tensor<T> silu(const Tensor<T>& a) {
  return detail::unary_op("silu", a, [](auto x) { return x / (1 + std::exp(-x)); }, [](auto x, auto) {
    auto s = 1 / (1 + std::exp(-x));
    return s * (1 + x * (1 - s));
  });
}
namespace detail {

// GELU on float tensors with the vectorised Φ of backend/cpu/vec_math.hpp: a: any shape -> same shape.
inline Tensor<float> gelu_f32(const Tensor<float>& a) {
  require_cpu("gelu", a);
  Tensor<float> x = a.detach().contiguous(), y = Tensor<float>::empty(a.shape());
  auto chunks = [](int64_t n, auto f) {
    constexpr int64_t C = 4096;
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
    for (int64_t i = 0; i < n; i += C) f(i, std::min(C, n - i));
  };
  chunks(x.numel(), [&](int64_t i, int64_t len) { cpu::gelu_row(y.data() + i, x.data() + i, len); });
  autograd::record("gelu", y, [a, x, chunks](const Tensor<float>& g) {
    Tensor<float> gc = g.contiguous(), gx = Tensor<float>::empty(x.shape());
    chunks(x.numel(),
           [&](int64_t i, int64_t len) { cpu::gelu_grad_row(gx.data() + i, x.data() + i, gc.data() + i, len); });
    autograd::accumulate(a, std::move(gx));
  }, a);
  return y;
}

}  // namespace detail

// GELU, exact form: x·Φ(x).
template <class T> Tensor<T> gelu(const Tensor<T>& a) {
  using A = acc_t<T>;
  if constexpr (std::is_same_v<T, float>) return detail::gelu_f32(a);
  return detail::unary_op("gelu", a, [](auto x) { return A(0.5) * x * (1 + std::erf(x * A(M_SQRT1_2))); },
                          [](auto x, auto) {
                            return A(0.5) * (1 + std::erf(x * A(M_SQRT1_2))) +
                                   x * std::exp(A(-0.5) * x * x) * A(0.5 * M_2_SQRTPI * M_SQRT1_2);
                          });
}
// GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
template <class T> Tensor<T> gelu_tanh(const Tensor<T>& a) {
  using A = acc_t<T>;
  const A k = A(0.7978845608028654), c = A(0.044715);  // sqrt(2/pi) and the cubic coefficient
  return detail::unary_op("gelu_tanh", a, [k, c](auto x) { return A(0.5) * x * (1 + std::tanh(k * (x + c * x * x * x))); },
                          [k, c](auto x, auto) {
                            A t = std::tanh(k * (x + c * x * x * x));
                            return A(0.5) * (1 + t) + A(0.5) * x * (1 - t * t) * k * (1 + 3 * c * x * x);
                          });
}

// Comparisons and logic: bool results, no gradient.
template <class T> Tensor<bool> eq(const Tensor<T>& a, const Tensor<T>& b) {
  return detail::map_as<bool>("eq", [](auto x, auto y) { return x == y; }, a, b);
}
template <class T> Tensor<bool> ne(const Tensor<T>& a, const Tensor<T>& b) {
  return detail::map_as<bool>("ne", [](auto x, auto y) { return x != y; }, a, b);
}
template <class T> Tensor<bool> lt(const Tensor<T>& a, const Tensor<T>& b) {
  return detail::map_as<bool>("lt", [](auto x, auto y) { return x < y; }, a, b);
}
template <class T> Tensor<bool> le(const Tensor<T>& a, const Tensor<T>& b) {
  return detail::map_as<bool>("le", [](auto x, auto y) { return x <= y; }, a, b);
}
template <class T> Tensor<bool> gt(const Tensor<T>& a, const Tensor<T>& b) { return lt(b, a); }
template <class T> Tensor<bool> ge(const Tensor<T>& a, const Tensor<T>& b) { return le(b, a); }
inline Tensor<bool> logical_not(const Tensor<bool>& a) {
  return detail::map_as<bool>("logical_not", [](bool x) { return !x; }, a);
}
inline Tensor<bool> logical_and(const Tensor<bool>& a, const Tensor<bool>& b) {
  return detail::map_as<bool>("logical_and", [](bool x, bool y) { return x && y; }, a, b);
}

// cond ? a : b elementwise, all three broadcast together; the gradient goes to the chosen side.
template <class T> Tensor<T> where(const Tensor<bool>& cond, const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::map_as<T>("where", [](bool c, auto x, auto y) { return c ? x : y; }, cond, a, b);
  if constexpr (Floating<T>) {
    autograd::record("where", out, [cond, a, b](const Tensor<T>& g) {
      using A = acc_t<T>;
      if (a.requires_grad())
        autograd::accumulate(a, sum_to(detail::map_as<T>("where", [](bool c, A gv) { return c ? gv : A(0); }, cond, g),
                                       a.shape()));
      if (b.requires_grad())
        autograd::accumulate(b, sum_to(detail::map_as<T>("where", [](bool c, A gv) { return c ? A(0) : gv; }, cond, g),
                                       b.shape()));
    }, a, b);
  }
  return out;
}
// a with `value` wherever mask (broadcast to a's shape) is true.
template <class T> Tensor<T> masked_fill(const Tensor<T>& a, const Tensor<bool>& mask, double value) {
  check(broadcast_shapes(a.shape(), mask.shape(), "masked_fill") == a.shape(), "masked_fill: mask of shape ",
        mask.shape(), " does not broadcast to ", a.shape());
  return where(mask, Tensor<T>::scalar(value), a);
}

template <class T> Tensor<T> operator+(const Tensor<T>& a, const Tensor<T>& b) { return add(a, b); }
template <class T> Tensor<T> operator-(const Tensor<T>& a, const Tensor<T>& b) { return sub(a, b); }
template <class T> Tensor<T> operator*(const Tensor<T>& a, const Tensor<T>& b) { return mul(a, b); }
template <class T> Tensor<T> operator/(const Tensor<T>& a, const Tensor<T>& b) { return div(a, b); }
template <class T> Tensor<T> operator-(const Tensor<T>& a) { return neg(a); }
template <class T> Tensor<T> operator+(const Tensor<T>& a, double s) { return add(a, s); }
template <class T> Tensor<T> operator+(double s, const Tensor<T>& a) { return add(a, s); }
template <class T> Tensor<T> operator-(const Tensor<T>& a, double s) { return add(a, -s); }
template <class T> Tensor<T> operator-(double s, const Tensor<T>& a) { return add(neg(a), s); }
template <class T> Tensor<T> operator*(const Tensor<T>& a, double s) { return mul(a, s); }
template <class T> Tensor<T> operator*(double s, const Tensor<T>& a) { return mul(a, s); }
template <class T> Tensor<T> operator/(const Tensor<T>& a, double s) { return mul(a, 1.0 / s); }
template <class T> Tensor<T> operator/(double s, const Tensor<T>& a) { return mul(pow(a, -1.0), s); }

}  // namespace unigen
