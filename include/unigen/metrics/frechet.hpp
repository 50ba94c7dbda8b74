#pragma once
// Fréchet distance between two sets of feature vectors, each summarised by its mean and covariance:
// |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), the quantity FID reports (here on unigen's own features).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <Eigen/Dense>

#include "unigen/core/error.hpp"

namespace unigen::metrics {

// The statistics are kept in long double: extra precision for the square root, and Eigen has no SIMD path
// for it, which avoids g++ 12's false -Wmaybe-uninitialized in Eigen's AVX-512 double kernels (-march=native).
using FMatrix = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;
using FVector = Eigen::Matrix<long double, Eigen::Dynamic, 1>;

// Mean and covariance (unbiased, divided by n - 1) of a feature set.
struct Gaussian {
  FVector mean;
  FMatrix cov;
};

// features: [n, d] row-major, n >= 2 -> their mean [d] and covariance [d, d].
inline Gaussian feature_stats(const std::vector<float>& features, int64_t n, int64_t d) {
  check(n >= 2 && d >= 1 && int64_t(features.size()) == n * d, "feature_stats: ", features.size(),
        " values do not form [n >= 2, d >= 1] = [", n, ", ", d, "]");
  FMatrix x(n, d);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) x(i, j) = static_cast<long double>(features[size_t(i * d + j)]);
  Gaussian g;
  g.mean = x.colwise().mean().transpose();
  FMatrix c = x.rowwise() - g.mean.transpose();
  g.cov = (c.transpose() * c) / static_cast<long double>(n - 1);
  return g;
}

// Square root of a symmetric positive semi-definite matrix [d, d] (eigenvalues below 0 from rounding -> 0).
inline FMatrix sqrt_psd(const FMatrix& a) {
  Eigen::SelfAdjointEigenSolver<FMatrix> es(0.5L * (a + a.transpose()));
  check(es.info() == Eigen::Success, "sqrt_psd: eigen decomposition failed");
  FVector ev = es.eigenvalues().cwiseMax(0.0L).cwiseSqrt();
  return es.eigenvectors() * ev.asDiagonal() * es.eigenvectors().transpose();
}

// Fréchet distance between two Gaussians of the same dimension. tr((S1 S2)^(1/2)) is computed as
// tr((S1^(1/2) S2 S1^(1/2))^(1/2)): same eigenvalues, but symmetric, so stable where S1 S2 is not diagonalisable.
inline double frechet_distance(const Gaussian& a, const Gaussian& b) {
  check(a.mean.size() == b.mean.size() && a.cov.rows() == a.mean.size() && a.cov.cols() == a.mean.size() &&
            b.cov.rows() == b.mean.size() && b.cov.cols() == b.mean.size(),
        "frechet_distance: dimensions differ (", a.mean.size(), " vs ", b.mean.size(), ")");
  FMatrix s1 = sqrt_psd(a.cov);
  FMatrix m = s1 * b.cov * s1;
  Eigen::SelfAdjointEigenSolver<FMatrix> es(0.5L * (m + m.transpose()), Eigen::EigenvaluesOnly);
  check(es.info() == Eigen::Success, "frechet_distance: eigen decomposition failed");
  long double tr_sqrt = es.eigenvalues().cwiseMax(0.0L).cwiseSqrt().sum();
  long double d = (a.mean - b.mean).squaredNorm() + a.cov.trace() + b.cov.trace() - 2 * tr_sqrt;
  return double(std::max(d, 0.0L));
}

// Fréchet distance between two feature sets: a is [na, d], b is [nb, d], row-major.
inline double frechet_distance(const std::vector<float>& a, int64_t na, const std::vector<float>& b, int64_t nb,
                               int64_t d) {
  return frechet_distance(feature_stats(a, na, d), feature_stats(b, nb, d));
}

}  // namespace unigen::metrics
