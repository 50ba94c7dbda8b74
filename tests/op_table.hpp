#pragma once
// The gradient-check table driver: every differentiable op is one OpCase row; run_gradcheck_table
// checks each row by finite differences on contiguous, permuted and sliced (strided) inputs.
#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "unigen/autograd/gradcheck.hpp"

namespace unigen::testing {

using Inputs = std::vector<Tensor<double>>;

struct OpCase {
  std::string name;
  // Input shapes. A negative entry -k is the k-th random size (1..4), the same wherever -k appears,
  // so rows can state broadcasting relations ({-1, -2} with {-2}) and still get random shapes.
  std::vector<Shape> shapes;
  std::function<Tensor<double>(const Inputs&)> f;
  double lo = -1.0, hi = 1.0;  // inputs are uniform in [lo, hi)
  bool strided = true;         // also check permuted and sliced (non-contiguous) inputs
  double atol = 1e-5, rtol = 1e-4;
};

// An input of logical shape s whose layout is: 0 dense, 1 reversed-dims permutation, 2 every other
// element of a twice-as-long last dim.
inline Tensor<double> make_input(const Shape& s, int layout, Generator& g, double lo, double hi) {
  if (layout == 1 && s.size() >= 2) {
    Shape rev(s.rbegin(), s.rend());
    std::vector<int64_t> perm(s.size());
    for (size_t i = 0; i < s.size(); ++i) perm[i] = int64_t(s.size() - 1 - i);
    return Tensor<double>::rand(rev, g, lo, hi).permute(perm);
  }
  if (layout == 2 && !s.empty()) {
    Shape wide = s;
    wide.back() *= 2;
    return Tensor<double>::rand(wide, g, lo, hi).slice(-1, 0, wide.back(), 2);
  }
  return Tensor<double>::rand(s, g, lo, hi);
}

inline void run_gradcheck_table(const std::vector<OpCase>& table, uint64_t seed = 42) {
  Generator g(seed);
  for (const auto& row : table) {
    std::map<int64_t, int64_t> sizes;
    std::vector<Shape> shapes = row.shapes;
    for (auto& s : shapes)
      for (auto& d : s)
        if (d < 0) {
          if (!sizes.count(d)) sizes[d] = 1 + int64_t(g.below(4));
          d = sizes[d];
        }
    for (int layout = 0; layout < (row.strided ? 3 : 1); ++layout) {
      Inputs in;
      for (auto& s : shapes) in.push_back(make_input(s, layout, g, row.lo, row.hi));
      INFO("op " << row.name << ", layout " << layout << ", input 0 shape " << shape_str(shapes.at(0)));
      GradcheckResult r = gradcheck(row.f, in, 1e-6, row.atol, row.rtol);
      INFO(r.message);
      CHECK(r.ok);
    }
  }
}

}  // namespace unigen::testing
