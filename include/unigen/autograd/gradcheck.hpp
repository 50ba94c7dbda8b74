#pragma once
// Finite-difference gradient check: compares backward() with central differences in double precision.
#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "unigen/core/tensor.hpp"

namespace unigen {

struct GradcheckResult {
  bool ok = true;
  double max_abs_err = 0;   // largest |analytic - numeric| over all checked elements
  std::string message;      // the first failing element, when !ok
};

// f maps the inputs to any output; the check reduces it to the scalar Σ f(x)·R with a fixed random
// R, so every output element takes part. Each input element is perturbed by ±eps in place (inputs may
// be non-contiguous views); an element passes when |analytic - numeric| <= atol + rtol·|numeric|.
inline GradcheckResult gradcheck(const std::function<Tensor<double>(const std::vector<Tensor<double>>&)>& f,
                                 std::vector<Tensor<double>> inputs, double eps = 1e-6, double atol = 1e-5,
                                 double rtol = 1e-4) {
  GradcheckResult res;
  Tensor<double> weights;
  auto objective = [&](const std::vector<Tensor<double>>& in) {
    Tensor<double> y = f(in);
    if (!weights.defined()) {
      Generator g(1234);
      weights = Tensor<double>::rand(y.shape(), g, 0.5, 1.5);
    }
    check(y.shape() == weights.shape(), "gradcheck: output shape changed from ", weights.shape(), " to ", y.shape());
    NoGrad ng;
    std::vector<double> yv = y.to_vector(), wv = weights.to_vector();
    double s = 0;
    for (size_t i = 0; i < yv.size(); ++i) s += yv[i] * wv[i];
    return std::make_pair(y, s);
  };
  for (auto& x : inputs) x.set_requires_grad(true).zero_grad();
  auto [y, s0] = objective(inputs);
  (void)s0;
  if (!y.requires_grad()) {
    res.ok = false;
    res.message = "gradcheck: the output does not depend on any input through the graph";
    return res;
  }
  y.backward(weights);
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor<double>& x = inputs[k];
    Tensor<double> analytic = x.grad();
    if (!analytic.defined()) analytic = Tensor<double>::zeros(x.shape());
    std::vector<double> av = analytic.to_vector();
    std::vector<int64_t> idx(size_t(x.dim()), 0);
    for (int64_t lin = 0; lin < x.numel(); ++lin) {
      int64_t r = lin;
      for (int64_t d = x.dim() - 1; d >= 0; --d) {
        idx[size_t(d)] = r % x.shape()[size_t(d)];
        r /= x.shape()[size_t(d)];
      }
      double orig = x.at(idx);
      double fp, fm;
      {
        NoGrad ng;
        x.set(idx, orig + eps);
        fp = objective(inputs).second;
        x.set(idx, orig - eps);
        fm = objective(inputs).second;
        x.set(idx, orig);
      }
      double numeric = (fp - fm) / (2 * eps), err = std::abs(av[size_t(lin)] - numeric);
      res.max_abs_err = std::max(res.max_abs_err, err);
      if (err > atol + rtol * std::abs(numeric) && res.ok) {
        res.ok = false;
        std::ostringstream os;
        os << "input " << k << " element " << shape_str(idx) << ": analytic " << av[size_t(lin)] << " vs numeric "
           << numeric;
        res.message = os.str();
      }
    }
  }
  return res;
}

}  // namespace unigen
