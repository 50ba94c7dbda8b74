#pragma once
// Tensor<T>: a reference-counted, strided n-d array with a runtime device, and the autograd handle.
#include <algorithm>
#include <array>
#include <cmath>
#include <iomanip>
#include <memory>
#include <new>
#include <numeric>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "unigen/autograd/node.hpp"
#include "unigen/backend/cpu/cpu_features.hpp"
#include "unigen/backend/cpu/strided.hpp"
#include "unigen/core/device.hpp"
#include "unigen/core/dtype.hpp"
#include "unigen/core/error.hpp"
#include "unigen/core/host_cache.hpp"
#include "unigen/core/rng.hpp"
#include "unigen/core/shape.hpp"

namespace unigen {

template <Element T> class Tensor;
template <class T> Tensor<T> sum_to(const Tensor<T>& g, const Shape& shape);

namespace autograd {
template <class T, class F, class... In> void record(const char* name, Tensor<T>& out, F fn, const In&... ins);
template <class T> void accumulate(const Tensor<T>& input, const Tensor<T>& grad);
template <class T> void accumulate(const Tensor<T>& input, Tensor<T>&& grad);
template <class T>
void accumulate_slice(const Tensor<T>& input, int64_t dim, int64_t start, int64_t end, int64_t step,
                      const Tensor<T>& grad);
template <class T> void run_backward(const Tensor<T>& root, const Tensor<T>& grad, bool retain_graph);
}  // namespace autograd

namespace detail {

// What a Tensor handle points to: storage (shared between views) + the view's geometry + autograd state.
template <class T>
struct TensorImpl {
  std::shared_ptr<T> storage;
  int64_t capacity = 0;
  Device device;
  Shape shape, strides;
  int64_t offset = 0;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl<T>> grad;
  std::shared_ptr<autograd::Node> grad_fn;
};

// 64-byte aligned host memory for n elements (so SIMD kernels can use aligned loads on fresh tensors);
// large blocks are recycled through the host cache (core/host_cache.hpp).
template <class T>
std::shared_ptr<T> allocate(int64_t n, Device d) {
  check(d.is_cpu(), "allocate: device ", d.str(), " is not available (the CUDA backend is compiled only under nvcc)");
  // The first tensor reads UNIGEN_CPU_KERNEL, so that a bad value throws here, where the caller can catch
  // it, and not first inside a kernel's OpenMP region, where an exception ends the process.
  [[maybe_unused]] static const bool kernel_read = (cpu::cpu_kernel(), true);
  const size_t bytes = size_t(std::max<int64_t>(n, 1)) * sizeof(T);
  T* p = static_cast<T*>(HostCache::get().take(bytes));
  return std::shared_ptr<T>(p, [bytes](T* q) { HostCache::get().give(q, bytes); });
}

}  // namespace detail

template <Element T>
class Tensor {
 public:
  using Impl = detail::TensorImpl<T>;
  using value_type = T;

  Tensor() = default;
  explicit Tensor(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

  // Creation. Every factory returns a dense row-major tensor on the CPU.
  static Tensor empty(const Shape& shape, Device dev = Device::cpu()) {
    for (auto d : shape) check(d >= 0, "Tensor::empty: negative size in shape ", shape);
    auto impl = std::make_shared<Impl>();
    impl->capacity = numel_of(shape);
    impl->storage = detail::allocate<T>(impl->capacity, dev);
    impl->device = dev;
    impl->shape = shape;
    impl->strides = contiguous_strides(shape);
    return Tensor(impl);
  }
  static Tensor full(const Shape& shape, double value) {
    Tensor t = empty(shape);
    t.fill_(value);
    return t;
  }
  static Tensor zeros(const Shape& shape) { return full(shape, 0.0); }
  static Tensor ones(const Shape& shape) { return full(shape, 1.0); }
  static Tensor scalar(double value) { return full({}, value); }
  // [start, start+step, ...) up to end (exclusive).
  static Tensor arange(double start, double end, double step = 1.0) {
    check(step != 0.0, "Tensor::arange: step is 0");
    int64_t n = std::max<int64_t>(0, int64_t(std::ceil((end - start) / step)));
    Tensor t = empty({n});
    for (int64_t i = 0; i < n; ++i) t.data()[i] = T(start + double(i) * step);
    return t;
  }
  static Tensor arange(double end) { return arange(0.0, end, 1.0); }
  // Uniform in [lo, hi).
  static Tensor rand(const Shape& shape, Generator& g = default_generator(), double lo = 0.0, double hi = 1.0) {
    Tensor t = empty(shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = T(lo + (hi - lo) * g.uniform());
    return t;
  }
  // Normal with the given mean and standard deviation.
  static Tensor randn(const Shape& shape, Generator& g = default_generator(), double mean = 0.0, double std = 1.0) {
    Tensor t = empty(shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = T(mean + std * g.normal());
    return t;
  }
  // Uniform integers in [lo, hi).
  static Tensor randint(int64_t lo, int64_t hi, const Shape& shape, Generator& g = default_generator()) {
    check(hi > lo, "Tensor::randint: empty range [", lo, ", ", hi, ")");
    Tensor t = empty(shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = T(lo + int64_t(g.below(uint64_t(hi - lo))));
    return t;
  }
  // Copies `values` (row-major) into a new tensor of `shape`.
  template <class U>
  static Tensor from_vector(const std::vector<U>& values, const Shape& shape) {
    check(int64_t(values.size()) == numel_of(shape), "Tensor::from_vector: ", values.size(),
          " values do not fill shape ", shape);
    Tensor t = empty(shape);
    for (size_t i = 0; i < values.size(); ++i) t.data()[i] = T(values[i]);
    return t;
  }

  // Geometry.
  bool defined() const { return bool(impl_); }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return int64_t(shape().size()); }
  int64_t size(int64_t d) const { return shape()[norm_dim(d, dim(), "Tensor::size")]; }
  int64_t stride(int64_t d) const { return strides()[norm_dim(d, dim(), "Tensor::stride")]; }
  int64_t numel() const { return numel_of(shape()); }
  Device device() const { return impl().device; }
  static constexpr DType dtype() { return dtype_traits<T>::value; }
  bool is_contiguous() const {
    int64_t acc = 1;
    for (int64_t i = dim() - 1; i >= 0; --i) {
      if (shape()[i] != 1 && strides()[i] != acc) return false;
      acc *= shape()[i];
    }
    return true;
  }
  // Pointer to the first element of this view (CPU tensors).
  T* data() const { return impl().storage.get() + impl().offset; }
  // True when both handles view the same storage.
  bool shares_storage(const Tensor& o) const { return impl().storage == o.impl().storage; }
  Impl& impl() const {
    check(bool(impl_), "Tensor: use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<Impl>& impl_ptr() const { return impl_; }

  // Element access.
  T at(const std::vector<int64_t>& idx) const { return impl().storage.get()[element_offset(idx)]; }
  void set(const std::vector<int64_t>& idx, T v) { impl().storage.get()[element_offset(idx)] = v; }
  T item() const {
    check(numel() == 1, "Tensor::item: tensor of shape ", shape(), " has ", numel(), " elements, not 1");
    return data()[0];
  }
  // All elements in row-major order.
  std::vector<T> to_vector() const {
    std::vector<T> v;
    v.reserve(size_t(numel()));
    const T* p = impl().storage.get();
    cpu::strided_for_each<1>(shape(), {strides().data()}, {offset()}, [&](auto o) { v.push_back(p[o[0]]); });
    return v;
  }

  // Copies (differentiable).
  Tensor clone() const {
    Tensor out = empty(shape());
    const T* src = impl().storage.get();
    T* dst = out.data();
    cpu::strided_for_each_parallel<2>(shape(), {out.strides().data(), strides().data()}, {0, offset()},
                                      [&](auto o) { dst[o[0]] = src[o[1]]; });
    if constexpr (Floating<T>)
      autograd::record("clone", out, [a = *this](const Tensor& g) { autograd::accumulate(a, g); }, *this);
    return out;
  }
  Tensor contiguous() const { return is_contiguous() ? *this : clone(); }

  // Views: share storage, differentiable.
  // New shape with the same elements; one dim may be -1. Needs a layout that allows it (else use reshape).
  Tensor view(Shape s) const {
    s = infer_shape(s, "view");
    Shape st;
    check(view_strides(s, st), "view: a tensor of shape ", shape(), " with strides ", strides(),
          " cannot be viewed as ", s, " without a copy (use reshape)");
    return make_view(s, st, offset(), "view");
  }
  Tensor reshape(Shape s) const {
    s = infer_shape(s, "reshape");
    Shape st;
    if (view_strides(s, st)) return make_view(s, st, offset(), "reshape");
    return contiguous().view(s);
  }
  Tensor flatten(int64_t start = 0, int64_t end = -1) const {
    if (dim() == 0) return reshape({1});
    start = norm_dim(start, dim(), "flatten");
    end = norm_dim(end, dim(), "flatten");
    Shape s(shape().begin(), shape().begin() + start);
    int64_t n = 1;
    for (int64_t d = start; d <= end; ++d) n *= shape()[d];
    s.push_back(n);
    s.insert(s.end(), shape().begin() + end + 1, shape().end());
    return reshape(s);
  }
  // Reorders dims: result dim i is input dim perm[i].
  Tensor permute(const std::vector<int64_t>& perm) const {
    check(int64_t(perm.size()) == dim(), "permute: ", perm.size(), " dims given for a tensor of shape ", shape());
    Shape s(perm.size()), st(perm.size());
    std::vector<bool> seen(perm.size(), false);
    for (size_t i = 0; i < perm.size(); ++i) {
      int64_t p = norm_dim(perm[i], dim(), "permute");
      check(!seen[p], "permute: dim ", p, " repeated");
      seen[p] = true;
      s[i] = shape()[p];
      st[i] = strides()[p];
    }
    return make_view(s, st, offset(), "permute", [perm](const auto& a, const auto& g) {
      std::vector<int64_t> inv(perm.size());
      for (size_t i = 0; i < perm.size(); ++i) inv[size_t(norm_dim(perm[i], a.dim(), "permute"))] = int64_t(i);
      autograd::accumulate(a, g.permute(inv));
    });
  }
  Tensor transpose(int64_t d0, int64_t d1) const {
    std::vector<int64_t> perm(static_cast<size_t>(dim()));
    std::iota(perm.begin(), perm.end(), 0);
    std::swap(perm[norm_dim(d0, dim(), "transpose")], perm[norm_dim(d1, dim(), "transpose")]);
    return permute(perm);
  }
  // Matrix transpose of the last two dims.
  Tensor mT() const { return transpose(-2, -1); }
  // Elements start, start+step, ... < end along dim (end is clamped to the size).
  Tensor slice(int64_t d, int64_t start, int64_t end, int64_t step = 1) const {
    d = norm_dim(d, dim(), "slice");
    int64_t n = shape()[d];
    if (start < 0) start += n;
    if (end < 0) end += n;
    end = std::min(end, n);
    check(step > 0 && start >= 0 && start <= n && end >= start, "slice: range [", start, ", ", end, ") step ", step,
          " invalid for dim ", d, " of shape ", shape());
    Shape s = shape(), st = strides();
    s[d] = (end - start + step - 1) / step;
    st[d] *= step;
    return make_view(s, st, offset() + start * strides()[d], "slice",
                     [d, start, end, step](const auto& a, const auto& g) {
                       autograd::accumulate_slice(a, d, start, end, step, g);
                     });
  }
  Tensor narrow(int64_t d, int64_t start, int64_t length) const { return slice(d, start, start + length); }
  // The sub-tensor at index i of dim d (that dim removed).
  Tensor select(int64_t d, int64_t i) const {
    d = norm_dim(d, dim(), "select");
    check(i >= -shape()[d] && i < shape()[d], "select: index ", i, " out of range for dim ", d, " of shape ", shape());
    if (i < 0) i += shape()[d];
    return narrow(d, i, 1).squeeze(d);
  }
  // Broadcasts size-1 dims (and new leading dims) to `s` without copying; -1 keeps a size.
  Tensor expand(Shape s) const {
    check(s.size() >= shape().size(), "expand: cannot expand shape ", shape(), " to ", s);
    Shape st(s.size(), 0);
    size_t off = s.size() - shape().size();
    for (size_t i = 0; i < s.size(); ++i) {
      if (i < off) {
        check(s[i] >= 0, "expand: cannot expand shape ", shape(), " to ", s);
        continue;
      }
      int64_t have = shape()[i - off];
      if (s[i] == -1) s[i] = have;
      check(have == s[i] || have == 1, "expand: cannot expand shape ", shape(), " to ", s);
      st[i] = have == s[i] ? strides()[i - off] : 0;
    }
    return make_view(s, st, offset(), "expand",
                     [](const auto& a, const auto& g) { autograd::accumulate(a, sum_to(g, a.shape())); });
  }
  Tensor squeeze(int64_t d) const {
    d = norm_dim(d, dim(), "squeeze");
    if (shape()[d] != 1) return *this;
    Shape s = shape(), st = strides();
    s.erase(s.begin() + d);
    st.erase(st.begin() + d);
    return make_view(s, st, offset(), "squeeze");
  }
  Tensor squeeze() const {
    Shape s, st;
    for (int64_t i = 0; i < dim(); ++i)
      if (shape()[i] != 1) s.push_back(shape()[i]), st.push_back(strides()[i]);
    return make_view(s, st, offset(), "squeeze");
  }
  Tensor unsqueeze(int64_t d) const {
    d = norm_dim(d, dim() + 1, "unsqueeze");
    Shape s = shape(), st = strides();
    int64_t stv = d < dim() ? strides()[d] * shape()[d] : 1;
    s.insert(s.begin() + d, 1);
    st.insert(st.begin() + d, stv);
    return make_view(s, st, offset(), "unsqueeze");
  }

  // Autograd.
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& set_requires_grad(bool on = true) {
    check(!on || Floating<T>, "set_requires_grad: a ", dtype_traits<T>::name, " tensor cannot require grad");
    check(!impl().grad_fn || on, "set_requires_grad(false): only a leaf tensor can stop requiring grad (use detach)");
    impl().requires_grad = on;
    return *this;
  }
  // The accumulated gradient (undefined until a backward pass reaches this leaf).
  Tensor grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }
  void zero_grad() { impl().grad.reset(); }
  bool is_leaf() const { return !impl().grad_fn; }
  const std::shared_ptr<autograd::Node>& grad_fn() const { return impl().grad_fn; }
  // Same storage, no graph: gradients do not flow through the result.
  Tensor detach() const {
    auto p = std::make_shared<Impl>();
    p->storage = impl().storage;
    p->capacity = impl().capacity;
    p->device = device();
    p->shape = shape();
    p->strides = strides();
    p->offset = offset();
    return Tensor(p);
  }
  // Backward from a scalar (gradient 1).
  void backward(bool retain_graph = false) const {
    check(numel() == 1, "backward: the gradient can be implied only for a scalar, but the tensor has shape ", shape(),
          "; pass a gradient");
    autograd::run_backward(*this, ones(shape()), retain_graph);
  }
  // Backward with the gradient of some scalar with respect to this tensor (same shape).
  void backward(const Tensor& grad, bool retain_graph = false) const {
    autograd::run_backward(*this, grad, retain_graph);
  }

  // Dtype conversion (differentiable: the gradient is converted back).
  template <Element U>
  Tensor<U> to() const {
    if constexpr (std::is_same_v<U, T>) {
      return *this;
    } else {
      auto out = Tensor<U>::empty(shape());
      U* dst = out.data();
      const T* src = impl().storage.get();
      cpu::strided_for_each_parallel<2>(shape(), {out.strides().data(), strides().data()}, {0, offset()},
                                        [&](auto o) { dst[o[0]] = U(static_cast<acc_t<T>>(src[o[1]])); });
      if constexpr (Floating<T> && Floating<U>)
        autograd::record("to_dtype", out, [a = *this](const Tensor<U>& g) { autograd::accumulate(a, g.template to<T>()); },
                         *this);
      return out;
    }
  }
  // Device move; the CPU is always there, CUDA only when the CUDA backend is compiled in.
  Tensor to(Device d) const {
    if (d == device()) return *this;
    fail("Tensor::to(", d.str(), "): the CUDA backend is not compiled in (build the translation unit with nvcc)");
  }

  // In-place updates, for optimizers and gradient accumulation. They are not recorded, so they refuse
  // tensors that are part of a graph being recorded.
  Tensor& fill_(double v) {
    check_inplace("fill_");
    T tv(v);
    T* p = impl().storage.get();
    update_each<1>({}, {}, [&](auto o) { p[o[0]] = tv; });
    return *this;
  }
  // this = src (broadcast to this shape).
  Tensor& copy_(const Tensor& src) { return combine_("copy_", src, [](acc_t<T>, acc_t<T> s) { return s; }); }
  // this += alpha * src (broadcast to this shape).
  Tensor& add_(const Tensor& src, double alpha = 1.0) {
    acc_t<T> al = acc_t<T>(alpha);
    return combine_("add_", src, [al](acc_t<T> d, acc_t<T> s) { return d + al * s; });
  }
  Tensor& mul_(double s) {
    check_inplace("mul_");
    T* p = impl().storage.get();
    update_each<1>({}, {}, [&](auto o) { p[o[0]] = T(acc_t<T>(p[o[0]]) * acc_t<T>(s)); });
    return *this;
  }

 private:
  std::shared_ptr<Impl> impl_;

  int64_t element_offset(const std::vector<int64_t>& idx) const {
    check(int64_t(idx.size()) == dim(), "Tensor::at: ", idx.size(), " indices for a tensor of shape ", shape());
    int64_t o = offset();
    for (size_t i = 0; i < idx.size(); ++i) {
      check(idx[i] >= 0 && idx[i] < shape()[i], "Tensor::at: index ", idx, " out of range for shape ", shape());
      o += idx[i] * strides()[i];
    }
    return o;
  }
  Shape infer_shape(Shape s, const char* op) const {
    int64_t known = 1, infer = -1;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == -1) {
        check(infer < 0, op, ": more than one -1 in ", s);
        infer = int64_t(i);
      } else {
        check(s[i] >= 0, op, ": negative size in ", s);
        known *= s[i];
      }
    }
    if (infer >= 0) {
      check(known != 0 && numel() % known == 0, op, ": cannot infer -1 in ", s, " for ", numel(), " elements");
      s[size_t(infer)] = numel() / known;
    }
    check(numel_of(s) == numel(), op, ": shape ", s, " does not hold the ", numel(), " elements of shape ", shape());
    return s;
  }
  // Strides that view this tensor as shape s without copying; false when the layout doesn't allow it.
  // Dims are matched group by group: each group of old dims that multiplies to a group of new dims
  // must be contiguous among itself.
  bool view_strides(const Shape& s, Shape& st) const {
    st.assign(s.size(), 0);
    Shape os, ost;
    for (int64_t i = 0; i < dim(); ++i)
      if (shape()[i] != 1) os.push_back(shape()[i]), ost.push_back(strides()[i]);
    if (numel() == 0) {
      st = contiguous_strides(s);
      return true;
    }
    size_t oi = 0, ni = 0;
    while (ni < s.size() || oi < os.size()) {
      if (ni < s.size() && s[ni] == 1) {
        st[ni] = ni + 1 < s.size() ? 0 : 1;
        ++ni;
        continue;
      }
      if (oi >= os.size() || ni >= s.size()) return false;
      size_t o0 = oi, n0 = ni;
      int64_t po = os[oi++], pn = s[ni++];
      while (po != pn) {
        if (po < pn) {
          if (oi >= os.size()) return false;
          po *= os[oi++];
        } else {
          if (ni >= s.size()) return false;
          pn *= s[ni++];
        }
      }
      for (size_t k = o0; k + 1 < oi; ++k)
        if (ost[k] != ost[k + 1] * os[k + 1]) return false;
      int64_t acc = ost[oi - 1];
      for (size_t k = ni; k-- > n0;) {
        st[k] = acc;
        acc *= s[k];
      }
    }
    for (size_t k = 0; k < s.size(); ++k)  // give size-1 dims the stride a dense layout would have
      if (s[k] == 1) st[k] = k + 1 < s.size() ? st[k + 1] * s[k + 1] : 1;
    return true;
  }
  // A view of this tensor's storage; `backward(a, g)` accumulates the view's gradient g into a's.
  template <class Backward>
  Tensor make_view(const Shape& s, const Shape& st, int64_t off, const char* op, Backward backward) const {
    Tensor out = detach();
    out.impl().shape = s;
    out.impl().strides = st;
    out.impl().offset = off;
    if constexpr (Floating<T>)
      autograd::record(op, out, [a = *this, backward](const Tensor& g) { backward(a, g); }, *this);
    return out;
  }
  // Views that keep the element order (view, reshape, squeeze, unsqueeze): the gradient is reshaped back.
  Tensor make_view(const Shape& s, const Shape& st, int64_t off, const char* op) const {
    return make_view(s, st, off, op, [](const auto& a, const auto& g) { autograd::accumulate(a, g.reshape(a.shape())); });
  }
  void check_inplace(const char* op) const {
    check(!(autograd::GradMode::enabled() && (impl().requires_grad || impl().grad_fn)), op,
          ": in-place update of a tensor that requires grad while the graph is recorded (use NoGrad)");
  }
  // In-place loop over this tensor's elements (offsets[0]) and N − 1 more operands given by their
  // strides over this shape and their offsets. Parallel unless this tensor is an expanded view (a stride-0
  // dim of size > 1), where several indices share one element and must be updated one after another.
  template <size_t N, class F>
  void update_each(std::array<const int64_t*, N - 1> more_strides, std::array<int64_t, N - 1> more_offsets, F f) {
    std::array<const int64_t*, N> st{strides().data()};
    std::array<int64_t, N> base{offset()};
    for (size_t k = 1; k < N; ++k) st[k] = more_strides[k - 1], base[k] = more_offsets[k - 1];
    bool overlaps = false;
    for (int64_t d = 0; d < dim(); ++d) overlaps = overlaps || (size(d) > 1 && stride(d) == 0);
    if (overlaps) cpu::strided_for_each<N>(shape(), st, base, f);
    else cpu::strided_for_each_parallel<N>(shape(), st, base, f);
  }
  template <class F>
  Tensor& combine_(const char* op, const Tensor& src, F f) {
    check_inplace(op);
    Shape b = broadcast_shapes(shape(), src.shape(), op);
    check(b == shape(), op, ": source of shape ", src.shape(), " does not broadcast to ", shape());
    Shape sst = broadcast_strides(src.shape(), src.strides(), shape());
    T* d = impl().storage.get();
    const T* s = src.impl().storage.get();
    update_each<2>({sst.data()}, {src.offset()}, [&](auto o) { d[o[0]] = T(f(acc_t<T>(d[o[0]]), acc_t<T>(s[o[1]]))); });
    return *this;
  }
};

// Sums a gradient of a broadcast shape down to `shape` (the adjoint of broadcasting). Not recorded.
template <class T>
Tensor<T> sum_to(const Tensor<T>& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  Shape b = broadcast_shapes(shape, g.shape(), "sum_to");
  check(b == g.shape(), "sum_to: shape ", g.shape(), " does not reduce to ", shape);
  Tensor<T> out = Tensor<T>::zeros(shape);
  std::vector<acc_t<T>> acc(size_t(out.numel()), acc_t<T>(0));
  Shape ost = broadcast_strides(shape, contiguous_strides(shape), g.shape());
  const T* gp = g.impl().storage.get();
  cpu::strided_for_each<2>(g.shape(), {ost.data(), g.strides().data()}, {0, g.offset()},
                           [&](auto o) { acc[size_t(o[0])] += acc_t<T>(gp[o[1]]); });
  for (size_t i = 0; i < acc.size(); ++i) out.data()[i] = T(acc[i]);
  return out;
}

// Prints "Tensor<f32>[2, 3]" and the values (long dims are elided with ...).
template <class T>
std::ostream& operator<<(std::ostream& os, const Tensor<T>& t) {
  if (!t.defined()) return os << "Tensor<" << dtype_traits<T>::name << ">(undefined)";
  os << "Tensor<" << dtype_traits<T>::name << ">" << shape_str(t.shape());
  if (t.requires_grad()) os << " requires_grad";
  os << "\n";
  const T* p = t.impl().storage.get();
  auto rec = [&](auto&& self, int64_t d, int64_t off, int indent) -> void {
    if (d == t.dim()) {
      os << std::setprecision(6) << static_cast<double>(static_cast<acc_t<T>>(p[off]));
      return;
    }
    os << "[";
    int64_t n = t.shape()[d];
    for (int64_t i = 0; i < n; ++i) {
      if (n > 8 && i == 3) {
        os << (d + 1 == t.dim() ? "..., " : "...,\n" + std::string(size_t(indent + 1), ' '));
        i = n - 3;
      }
      self(self, d + 1, off + i * t.strides()[d], indent + 1);
      if (i + 1 < n) os << (d + 1 == t.dim() ? ", " : ",\n" + std::string(size_t(indent + 1), ' '));
    }
    os << "]";
  };
  rec(rec, 0, t.offset(), 0);
  return os;
}

}  // namespace unigen

#include "unigen/autograd/engine.hpp"
