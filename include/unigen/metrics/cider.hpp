#pragma once
// CIDEr-D as the COCO caption evaluation computes it: tf-idf n-gram vectors (n = 1..4), idf = log(N) -
// log(max(1, df)), clipped products min(hyp, ref) * ref, gaussian length penalty (sigma 6), x10, mean over
// references and over n. The references are precomputed once so that scoring thousands of sampled captions
// per training step (SCST) costs only the candidates' n-gram lookups.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <unordered_map>
#include <vector>

#include "unigen/core/error.hpp"

namespace unigen::metrics {

// Precomputed CIDEr-D references of a set of images; score(candidate, image) against them.
class CiderD {
 public:
  static constexpr int N = 4;
  using Tokens = std::vector<std::string>;

  // refs[i]: references of image i. Document frequencies come from these same references, and the
  // "reference length" log(N) from their number of images (what the COCO evaluation does).
  explicit CiderD(const std::vector<std::vector<Tokens>>& refs, double sigma = 6.0) : sigma_(sigma) {
    init(refs, refs);
  }

  // As above, but document frequencies and log(N) come from df_corpus (e.g. all training references for SCST).
  CiderD(const std::vector<std::vector<Tokens>>& refs, const std::vector<std::vector<Tokens>>& df_corpus,
         double sigma = 6.0)
      : sigma_(sigma) {
    init(refs, df_corpus);
  }

  // Number of images with references.
  size_t size() const { return images_.size(); }

  // CIDEr-D of one candidate (tokens) against the references of image `image`.
  double score(const Tokens& candidate, size_t image) const {
    check(image < images_.size(), "CiderD::score: image ", image, " out of range [0, ", images_.size(), ")");
    Vec hyp = vectorize(candidate);
    const auto& refs = images_[image];
    if (refs.empty()) return 0.0;
    std::array<double, N> total{};
    for (const Vec& r : refs) {
      double delta = double(hyp.length - r.length);
      double penalty = std::exp(-(delta * delta) / (2 * sigma_ * sigma_));
      for (int n = 0; n < N; ++n) {
        double val = dot_clipped(hyp.terms[size_t(n)], r.terms[size_t(n)]);
        if (hyp.norm[size_t(n)] != 0 && r.norm[size_t(n)] != 0) val /= hyp.norm[size_t(n)] * r.norm[size_t(n)];
        total[size_t(n)] += val * penalty;
      }
    }
    double mean = std::accumulate(total.begin(), total.end(), 0.0) / N;
    return mean / double(refs.size()) * 10.0;
  }

  // Per-image scores of candidates[i] against image i (candidates.size() must equal size()).
  std::vector<double> score_all(const std::vector<Tokens>& candidates) const {
    check(candidates.size() == images_.size(), "CiderD::score_all: ", candidates.size(), " candidates for ",
          images_.size(), " images");
    std::vector<double> out(candidates.size());
    for (size_t i = 0; i < candidates.size(); ++i) out[i] = score(candidates[i], i);
    return out;
  }

 private:
  // An n-gram as up to 4 word ids (-1 = unused); unknown words get ids <= -2 and never match.
  using Key = std::array<int32_t, N>;
  struct KeyHash {
    size_t operator()(const Key& k) const {
      uint64_t h = 1469598103934665603ull;
      for (int32_t v : k) h = (h ^ uint64_t(uint32_t(v))) * 1099511628211ull;
      return size_t(h ^ (h >> 29));
    }
  };
  // A sentence's tf-idf vector: per n, (n-gram id, weight) sorted by id (id -1: n-gram unseen in the refs,
  // it only adds to the norm); the norms; its "length" (the reference code counts bigrams here).
  struct Vec {
    std::array<std::vector<std::pair<int32_t, double>>, N> terms;
    std::array<double, N> norm{};
    int64_t length = 0;
  };

  // Builds the word and n-gram tables, document frequencies and the reference vectors.
  void init(const std::vector<std::vector<Tokens>>& refs, const std::vector<std::vector<Tokens>>& df_corpus) {
    check(!df_corpus.empty(), "CiderD: the document-frequency corpus is empty");
    for (const auto& img : df_corpus) {
      std::vector<int32_t> seen;
      for (const auto& r : img)
        for (auto& [k, c] : count_ngrams(r, true)) seen.push_back(ngram_id(k, true));
      std::sort(seen.begin(), seen.end());
      seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
      for (int32_t id : seen) df_[size_t(id)] += 1.0;
    }
    for (const auto& img : refs)
      for (const auto& r : img)
        for (auto& [k, c] : count_ngrams(r, true)) ngram_id(k, true);
    ref_len_ = std::log(double(df_corpus.size()));
    images_.reserve(refs.size());
    for (const auto& img : refs) {
      std::vector<Vec> vs;
      for (const auto& r : img) vs.push_back(vectorize(r));
      images_.push_back(std::move(vs));
    }
  }

  // Word id; with add, unseen words get a new id, otherwise -2.
  int32_t word_id(const std::string& w, bool add) {
    auto it = words_.find(w);
    if (it != words_.end()) return it->second;
    if (!add) return -2;
    int32_t id = int32_t(words_.size());
    words_.emplace(w, id);
    return id;
  }
  int32_t word_id(const std::string& w) const {
    auto it = words_.find(w);
    return it == words_.end() ? -2 : it->second;
  }

  // N-gram id; with add, unseen n-grams get a new id (df 0), otherwise -1.
  int32_t ngram_id(const Key& k, bool add) {
    auto it = ngrams_.find(k);
    if (it != ngrams_.end()) return it->second;
    if (!add) return -1;
    int32_t id = int32_t(ngrams_.size());
    ngrams_.emplace(k, id);
    df_.push_back(0.0);
    return id;
  }

  // Counts of the 1..4-grams of a sentence, as (key, count) sorted by key.
  std::vector<std::pair<Key, int64_t>> count_ngrams(const Tokens& words, bool add) {
    std::vector<int32_t> ids(words.size());
    for (size_t i = 0; i < words.size(); ++i) ids[i] = word_id(words[i], add);
    return count_keys(ids);
  }
  // Unknown words get distinct ids -2, -3, ... so that different unknown words stay different n-grams.
  std::vector<std::pair<Key, int64_t>> count_ngrams(const Tokens& words) const {
    std::vector<int32_t> ids(words.size());
    std::vector<const std::string*> unknown;
    for (size_t i = 0; i < words.size(); ++i) {
      ids[i] = word_id(words[i]);
      if (ids[i] != -2) continue;
      size_t u = 0;
      while (u < unknown.size() && *unknown[u] != words[i]) ++u;
      if (u == unknown.size()) unknown.push_back(&words[i]);
      ids[i] = -2 - int32_t(u);
    }
    return count_keys(ids);
  }
  static std::vector<std::pair<Key, int64_t>> count_keys(const std::vector<int32_t>& ids) {
    std::vector<Key> keys;
    for (int k = 1; k <= N; ++k)
      for (size_t i = 0; i + size_t(k) <= ids.size(); ++i) {
        Key key;
        key.fill(-1);
        for (int j = 0; j < k; ++j) key[size_t(j)] = ids[i + size_t(j)];
        keys.push_back(key);
      }
    std::sort(keys.begin(), keys.end());
    std::vector<std::pair<Key, int64_t>> out;
    for (const Key& k : keys) {
      if (!out.empty() && out.back().first == k) ++out.back().second;
      else out.emplace_back(k, 1);
    }
    return out;
  }

  // The tf-idf vector of a sentence (references and candidates alike).
  Vec vectorize(const Tokens& words) const {
    Vec v;
    for (auto& [k, tf] : count_ngrams(words)) {
      int n = 0;
      while (n + 1 < N && k[size_t(n + 1)] != -1) ++n;
      bool known_words = std::none_of(k.begin(), k.begin() + n + 1, [](int32_t x) { return x <= -2; });
      int32_t id = -1;
      if (known_words) {
        auto it = ngrams_.find(k);
        if (it != ngrams_.end()) id = it->second;
      }
      double df = id >= 0 ? df_[size_t(id)] : 0.0;
      double w = double(tf) * (ref_len_ - std::log(std::max(1.0, df)));
      v.terms[size_t(n)].emplace_back(id, w);
      v.norm[size_t(n)] += w * w;
      if (n == 1) v.length += tf;
    }
    for (int n = 0; n < N; ++n) {
      auto& t = v.terms[size_t(n)];
      std::sort(t.begin(), t.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      v.norm[size_t(n)] = std::sqrt(v.norm[size_t(n)]);
    }
    return v;
  }

  // sum over shared n-grams of min(hyp, ref) * ref (both sorted by id; id -1 never matches).
  static double dot_clipped(const std::vector<std::pair<int32_t, double>>& h,
                            const std::vector<std::pair<int32_t, double>>& r) {
    double s = 0;
    size_t i = 0, j = 0;
    while (i < h.size() && h[i].first < 0) ++i;
    while (i < h.size() && j < r.size()) {
      if (h[i].first < r[j].first) ++i;
      else if (r[j].first < h[i].first) ++j;
      else {
        s += std::min(h[i].second, r[j].second) * r[j].second;
        ++i, ++j;
      }
    }
    return s;
  }

  double sigma_;
  double ref_len_ = 0;
  std::unordered_map<std::string, int32_t> words_;
  std::unordered_map<Key, int32_t, KeyHash> ngrams_;
  std::vector<double> df_;
  std::vector<std::vector<Vec>> images_;
};

// Corpus CIDEr-D (mean over images) and per-image values; df from the references being scored.
struct CiderScores {
  double corpus = 0;
  std::vector<double> per_image;
};
inline CiderScores cider_d(const std::vector<std::vector<std::string>>& candidates,
                           const std::vector<std::vector<std::vector<std::string>>>& refs) {
  check(candidates.size() == refs.size(), "cider_d: ", candidates.size(), " candidates but ", refs.size(),
        " reference sets");
  check(!refs.empty(), "cider_d: no images");
  CiderD scorer(refs);
  CiderScores out;
  out.per_image = scorer.score_all(candidates);
  out.corpus = std::accumulate(out.per_image.begin(), out.per_image.end(), 0.0) / double(out.per_image.size());
  return out;
}

}  // namespace unigen::metrics
