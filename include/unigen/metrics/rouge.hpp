#pragma once
// ROUGE-L as the COCO caption evaluation computes it: LCS against each reference, the best precision and
// the best recall over references, F-measure with beta = 1.2.
#include <algorithm>
#include <string>
#include <vector>

#include "unigen/core/error.hpp"

namespace unigen::metrics {

// Length of the longest common subsequence of two token sequences.
inline size_t lcs_length(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.empty() || b.empty()) return 0;
  std::vector<size_t> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// ROUGE-L of one candidate (tokens) against its references. An empty token list counts as one empty token,
// as the reference scorer's split(" ") of an empty string does.
inline double rouge_l(const std::vector<std::string>& candidate, const std::vector<std::vector<std::string>>& refs,
                      double beta = 1.2) {
  check(!refs.empty(), "rouge_l: no references");
  static const std::vector<std::string> empty_token{""};
  const auto& c = candidate.empty() ? empty_token : candidate;
  double prec_max = 0, rec_max = 0;
  for (const auto& r0 : refs) {
    const auto& r = r0.empty() ? empty_token : r0;
    double l = double(lcs_length(r, c));
    prec_max = std::max(prec_max, l / double(c.size()));
    rec_max = std::max(rec_max, l / double(r.size()));
  }
  if (prec_max == 0 || rec_max == 0) return 0.0;
  return ((1 + beta * beta) * prec_max * rec_max) / (rec_max + beta * beta * prec_max);
}

}  // namespace unigen::metrics
