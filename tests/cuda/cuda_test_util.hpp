#pragma once
// Helpers of the CUDA tests: host<->device copies of unigen's element types, random data, error measures.
#include <catch2/catch.hpp>
#include <unigen/unigen.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/common.cuh"

namespace cutest {

using unigen::cuda::DeviceBuffer;
namespace K = unigen::cuda::kernels;

template <class H> struct dev_type { using type = H; };
template <> struct dev_type<unigen::bf16> { using type = K::bf16_t; };
template <> struct dev_type<unigen::f16> { using type = K::f16_t; };
template <class H> using dev_elem_t = typename dev_type<H>::type;

// Copies host values (float, unigen::bf16, unigen::f16, int64_t, uint8_t) to a new device buffer.
template <class H>
DeviceBuffer<dev_elem_t<H>> upload(const std::vector<H>& v) {
  static_assert(sizeof(H) == sizeof(dev_elem_t<H>));
  DeviceBuffer<dev_elem_t<H>> b(v.size());
  unigen::cuda::copy_to_device(b.data(), v.data(), v.size() * sizeof(H));
  return b;
}
template <class H>
std::vector<H> download(const DeviceBuffer<dev_elem_t<H>>& b) {
  std::vector<H> v(b.size());
  unigen::cuda::copy_to_host(v.data(), b.data(), b.size() * sizeof(H));
  return v;
}

template <class H>
std::vector<H> randn(size_t n, uint64_t seed, double scale = 1.0) {
  unigen::Generator g(seed);
  std::vector<H> v(n);
  for (auto& x : v) x = H(scale * g.normal());
  return v;
}
template <class H>
std::vector<H> randint(size_t n, uint64_t seed, int lo, int hi) {
  unigen::Generator g(seed);
  std::vector<H> v(n);
  for (auto& x : v) x = H(double(lo + int64_t(g.below(uint64_t(hi - lo + 1)))));
  return v;
}

template <class H>
std::vector<double> to_double(const std::vector<H>& v) {
  std::vector<double> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = double(float(v[i]));
  return r;
}
template <class H>
std::vector<double> to_double(const unigen::Tensor<H>& t) {
  return to_double(t.contiguous().to_vector());
}

inline double max_abs(const std::vector<double>& a) {
  double m = 0;
  for (double x : a) m = std::max(m, std::fabs(x));
  return m;
}
inline double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(a[i] - b[i]);
    if (std::isnan(d)) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}
// Normwise relative error max|got − ref| / max|ref| (max|ref| floored at 1e-30).
inline double rel_err(const std::vector<double>& got, const std::vector<double>& ref) {
  return max_abs_diff(got, ref) / std::max(max_abs(ref), 1e-30);
}

// fp32: the GPU result within 1e-4 (normwise relative) of the CPU result.
inline void check_f32(const char* what, const std::vector<double>& gpu, const std::vector<double>& cpu) {
  const double e = rel_err(gpu, cpu);
  INFO(what << ": relative error " << e << " (max |ref| " << max_abs(cpu) << ")");
  CHECK(e <= 1e-4);
}
// 16-bit types: the GPU's error against an exact (f64) reference at most 2x the error of the CPU
// computed in the same precision from the same rounded inputs (plus 1e-6·max|exact| for round-off ties).
inline void check_lowp(const char* what, const std::vector<double>& gpu, const std::vector<double>& cpu_lowp,
                       const std::vector<double>& exact) {
  const double eg = max_abs_diff(gpu, exact), ec = max_abs_diff(cpu_lowp, exact), floor = 1e-6 * max_abs(exact);
  INFO(what << ": GPU error " << eg << ", CPU low-precision error " << ec << " (max |exact| " << max_abs(exact) << ")");
  CHECK(eg <= 2 * ec + floor);
}
inline void check_exact(const char* what, const std::vector<double>& gpu, const std::vector<double>& ref) {
  INFO(what << ": max |diff| " << max_abs_diff(gpu, ref));
  CHECK(max_abs_diff(gpu, ref) == 0.0);
}

}  // namespace cutest

namespace cutest {

// Compares GPU outputs with the CPU: fp32 against the CPU in fp32; 16-bit types against the CPU in the
// same type (error budget) and in f64 (the exact value). cpu(tag) runs the CPU op with element type
// decltype(tag) and returns its outputs in the order of gpu.
template <class H, class F>
void compare(const char* what, const std::vector<std::vector<double>>& gpu, F cpu) {
  if constexpr (std::is_same_v<H, float>) {
    const auto ref = cpu(float{});
    REQUIRE(ref.size() == gpu.size());
    for (size_t i = 0; i < gpu.size(); ++i) {
      INFO("output " << i);
      check_f32(what, gpu[i], ref[i]);
    }
  } else {
    const auto lowp = cpu(H{});
    const auto exact = cpu(double{});
    REQUIRE(lowp.size() == gpu.size());
    REQUIRE(exact.size() == gpu.size());
    for (size_t i = 0; i < gpu.size(); ++i) {
      INFO("output " << i);
      check_lowp(what, gpu[i], lowp[i], exact[i]);
    }
  }
}

// A CPU tensor of element type T holding the values of v (already rounded to the test's type).
template <class T, class H>
unigen::Tensor<T> tensor(const std::vector<H>& v, const unigen::Shape& s) {
  std::vector<double> d = to_double(v);
  return unigen::Tensor<T>::from_vector(d, s);
}

}  // namespace cutest
