#pragma once
// BLEU-1..4 as the COCO caption evaluation computes it: clipped n-gram counts against the union (max count)
// of the references, "closest" reference length, corpus-level brevity penalty, and its tiny/small epsilons.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "unigen/core/error.hpp"

namespace unigen::metrics {

using Tokens = std::vector<std::string>;

// Corpus BLEU-1..4 and the per-image values the reference scorer reports alongside.
struct BleuScores {
  std::array<double, 4> corpus{};
  std::vector<std::array<double, 4>> per_image;
};

namespace detail {

// n-gram (n = 1..4) counts of a token sequence, keyed by the tokens joined with '\x1f'.
inline std::map<std::string, int64_t> ngram_counts(const Tokens& words, int max_n = 4) {
  std::map<std::string, int64_t> counts;
  for (int k = 1; k <= max_n; ++k)
    for (size_t i = 0; i + size_t(k) <= words.size(); ++i) {
      std::string key = words[i];
      for (int j = 1; j < k; ++j) key += '\x1f' + words[i + size_t(j)];
      ++counts[key];
    }
  return counts;
}

// Number of tokens in an n-gram key.
inline int ngram_order(const std::string& key) { return 1 + int(std::count(key.begin(), key.end(), '\x1f')); }

}  // namespace detail

// candidates[i]: tokens of image i's candidate; refs[i]: tokens of its references (at least one).
inline BleuScores bleu(const std::vector<Tokens>& candidates, const std::vector<std::vector<Tokens>>& refs) {
  check(candidates.size() == refs.size(), "bleu: ", candidates.size(), " candidates but ", refs.size(),
        " reference sets");
  constexpr int N = 4;
  const double tiny = 1e-15, small = 1e-9;
  BleuScores out;
  std::array<double, N> guess_total{}, correct_total{};
  double test_total = 0, ref_total = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    check(!refs[i].empty(), "bleu: image ", i, " has no references");
    std::map<std::string, int64_t> max_counts;
    for (const auto& r : refs[i])
      for (auto& [g, c] : detail::ngram_counts(r, N)) max_counts[g] = std::max(max_counts[g], c);
    const Tokens& cand = candidates[i];
    double testlen = double(cand.size());
    // closest reference length; ties go to the shorter one
    double reflen = 0, best = -1;
    for (const auto& r : refs[i]) {
      double d = std::abs(double(r.size()) - testlen);
      if (best < 0 || d < best || (d == best && double(r.size()) < reflen)) best = d, reflen = double(r.size());
    }
    std::array<double, N> guess{}, correct{};
    for (int k = 0; k < N; ++k) guess[size_t(k)] = std::max(0.0, testlen - k);
    for (auto& [g, c] : detail::ngram_counts(cand, N)) {
      auto it = max_counts.find(g);
      if (it != max_counts.end()) correct[size_t(detail::ngram_order(g) - 1)] += double(std::min(c, it->second));
    }
    std::array<double, N> per{};
    double b = 1.0;
    for (int k = 0; k < N; ++k) {
      b *= (correct[size_t(k)] + tiny) / (guess[size_t(k)] + small);
      per[size_t(k)] = std::pow(b, 1.0 / (k + 1));
      guess_total[size_t(k)] += guess[size_t(k)];
      correct_total[size_t(k)] += correct[size_t(k)];
    }
    double ratio = (testlen + tiny) / (reflen + small);
    if (ratio < 1)
      for (auto& v : per) v *= std::exp(1 - 1 / ratio);
    out.per_image.push_back(per);
    test_total += testlen;
    ref_total += reflen;
  }
  double b = 1.0;
  for (int k = 0; k < N; ++k) {
    b *= (correct_total[size_t(k)] + tiny) / (guess_total[size_t(k)] + small);
    out.corpus[size_t(k)] = std::pow(b, 1.0 / (k + 1));
  }
  double ratio = (test_total + tiny) / (ref_total + small);
  if (ratio < 1)
    for (auto& v : out.corpus) v *= std::exp(1 - 1 / ratio);
  return out;
}

}  // namespace unigen::metrics
