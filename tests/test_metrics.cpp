// Caption metrics against the reference scorers' outputs (fixture), CIDEr-D with a separate df corpus,
// and the Fréchet distance against closed forms.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "unigen/data/file.hpp"
#include "unigen/metrics/caption.hpp"
#include "unigen/metrics/frechet.hpp"
#include "unigen/text/normalize.hpp"

using namespace unigen;
using metrics::CaptionSample;

namespace {

// The golden fixture: inputs, per-image and corpus reference values.
struct Golden {
  std::vector<CaptionSample> samples;
  std::vector<double> cider, rouge;
  nlohmann::json corpus;
};

Golden load_golden() {
  std::string path = std::string(UNIGEN_FIXTURES_DIR) + "/caption_metrics_golden.json";
  nlohmann::json j = data::read_json(path);
  Golden g;
  g.samples = metrics::caption_samples_from_json(j, path);
  for (const auto& im : j["images"]) {
    g.cider.push_back(im["cider_d"].get<double>());
    g.rouge.push_back(im["rouge_l"].get<double>());
  }
  g.corpus = j["corpus"];
  return g;
}

}  // namespace

TEST_CASE("caption metrics equal the reference scorers on the golden fixture", "[metrics]") {
  Golden g = load_golden();
  REQUIRE(g.samples.size() > 10);
  metrics::CaptionScores s = metrics::score_captions(g.samples);
  for (size_t i = 0; i < g.samples.size(); ++i) {
    INFO("image " << i << ": " << g.samples[i].candidate);
    CHECK(std::abs(s.cider_d_per_image[i] - g.cider[i]) < 1e-9);
    CHECK(std::abs(s.rouge_l_per_image[i] - g.rouge[i]) < 1e-9);
  }
  CHECK(std::abs(s.bleu[0] - g.corpus["bleu_1"].get<double>()) < 1e-9);
  CHECK(std::abs(s.bleu[1] - g.corpus["bleu_2"].get<double>()) < 1e-9);
  CHECK(std::abs(s.bleu[2] - g.corpus["bleu_3"].get<double>()) < 1e-9);
  CHECK(std::abs(s.bleu[3] - g.corpus["bleu_4"].get<double>()) < 1e-9);
  CHECK(std::abs(s.rouge_l - g.corpus["rouge_l"].get<double>()) < 1e-9);
  CHECK(std::abs(s.cider_d - g.corpus["cider_d"].get<double>()) < 1e-9);
}

TEST_CASE("BLEU: hand-computed cases", "[metrics]") {
  using T = std::vector<std::string>;
  // identical candidate and reference: every precision is 1 (up to the scorer's epsilons)
  auto b = metrics::bleu({T{"a", "b", "c", "d"}}, {{T{"a", "b", "c", "d"}}});
  for (double v : b.corpus) CHECK(v == Approx(1.0).epsilon(1e-8));
  // "a b" vs "a c d": p1 = 1/2, brevity penalty exp(1 - 3/2)
  auto c = metrics::bleu({T{"a", "b"}}, {{T{"a", "c", "d"}}});
  CHECK(c.corpus[0] == Approx(0.5 * std::exp(1 - 1.5)).epsilon(1e-8));
  // clipping: "the the the" vs "the cat": p1 = 1/3; closest ref length among {2, 4} for testlen 3 -> 2 (tie, shorter)
  auto d = metrics::bleu({T{"the", "the", "the"}}, {{T{"the", "cat"}, T{"a", "b", "c", "d"}}});
  CHECK(d.corpus[0] == Approx(1.0 / 3).epsilon(1e-8));
  CHECK_THROWS_AS(metrics::bleu({T{"a"}}, {}), Error);
}

TEST_CASE("ROUGE-L: LCS and the beta-weighted F", "[metrics]") {
  using T = std::vector<std::string>;
  CHECK(metrics::lcs_length(T{"a", "b", "c", "d"}, T{"b", "d", "a"}) == 2);
  double p = 2.0 / 3, r = 2.0 / 4, beta2 = 1.44;
  CHECK(metrics::rouge_l(T{"b", "d", "x"}, {T{"a", "b", "c", "d"}}) ==
        Approx((1 + beta2) * p * r / (r + beta2 * p)).epsilon(1e-12));
  CHECK(metrics::rouge_l(T{}, {T{"a"}}) == 0.0);
  CHECK(metrics::rouge_l(T{"a"}, {T{"a"}}) == Approx(1.0));
}

TEST_CASE("CIDEr-D: scorer object equals the one-shot function; df corpus changes the idf", "[metrics]") {
  Golden g = load_golden();
  std::vector<std::vector<std::string>> cands;
  std::vector<std::vector<std::vector<std::string>>> refs;
  for (auto& s : g.samples) {
    cands.push_back(text::split_words(s.candidate));
    std::vector<std::vector<std::string>> r;
    for (auto& x : s.refs) r.push_back(text::split_words(x));
    refs.push_back(r);
  }
  metrics::CiderD scorer(refs);
  for (size_t i = 0; i < cands.size(); ++i) CHECK(std::abs(scorer.score(cands[i], i) - g.cider[i]) < 1e-9);
  // a candidate equal to a reference scores > 0; one of unknown words scores 0
  CHECK(scorer.score(refs[3][0], 3) > 0.5);
  CHECK(scorer.score({"zzz", "qqq", "zzz"}, 3) == 0.0);
  CHECK(scorer.score({}, 3) == 0.0);
  // df corpus = the refs themselves gives the same values as the one-argument form
  metrics::CiderD same(refs, refs);
  for (size_t i = 0; i < cands.size(); ++i) CHECK(same.score(cands[i], i) == Approx(scorer.score(cands[i], i)));
  // a larger df corpus (refs twice over) raises log(N) and so changes the scores
  auto twice = refs;
  twice.insert(twice.end(), refs.begin(), refs.end());
  metrics::CiderD other(refs, twice);
  CHECK(other.score(cands[0], 0) != Approx(scorer.score(cands[0], 0)));
  CHECK_THROWS_AS(scorer.score(cands[0], refs.size()), Error);
}

TEST_CASE("CIDEr-D is fast enough for SCST", "[metrics]") {
  Golden g = load_golden();
  std::vector<std::vector<std::vector<std::string>>> refs;
  for (auto& s : g.samples) {
    std::vector<std::vector<std::string>> r;
    for (auto& x : s.refs) r.push_back(text::split_words(x));
    refs.push_back(r);
  }
  metrics::CiderD scorer(refs);
  auto t0 = std::chrono::steady_clock::now();
  double sum = 0;
  for (int k = 0; k < 10000; ++k) {
    size_t i = size_t(k) % refs.size();
    sum += scorer.score(text::split_words(g.samples[(i + size_t(k / 80)) % refs.size()].candidate), i);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO("10000 candidates in " << secs << " s");
  CHECK(sum >= 0);
  CHECK(secs < 2.0);
}

TEST_CASE("caption sample JSON: malformed input names the file and the place", "[metrics]") {
  auto bad = [](const std::string& text) {
    try {
      metrics::caption_samples_from_json(data::parse_json(text, "x.json"), "x.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(bad("{\"images\": [{\"refs\": [\"a\"]}]}").find("images[0]") != std::string::npos);
  CHECK(bad("{\"images\": [{\"refs\": [], \"candidate\": \"a\"}]}").find("at least one") != std::string::npos);
  CHECK(bad("{\"images\": [{\"refs\": [1], \"candidate\": \"a\"}]}").find("refs[0]") != std::string::npos);
  CHECK(bad("{\"images\": [").find("x.json: invalid JSON") != std::string::npos);
  CHECK(bad("[]").find("expected an object") != std::string::npos);
}

TEST_CASE("Frechet distance: closed forms", "[metrics]") {
  // 1-D: {0, 2} has mean 1, variance 2; {5, 9} mean 7, variance 8: 36 + (sqrt 2 - sqrt 8)^2 = 38
  CHECK(metrics::frechet_distance({0, 2}, 2, {5, 9}, 2, 1) == Approx(38.0).epsilon(1e-12));
  // identical sets: 0
  std::vector<float> x = {1, 2, 3, 0.5f, -1, 4, 2, 2, 7, 0, 1, 1};
  CHECK(metrics::frechet_distance(x, 4, x, 4, 3) == Approx(0.0).margin(1e-9));
  // shifted by a vector v, same covariance: |v|^2
  std::vector<float> y = x;
  for (size_t i = 0; i < y.size(); i += 3) y[i] += 1, y[i + 1] -= 2, y[i + 2] += 0.5f;
  CHECK(metrics::frechet_distance(x, 4, y, 4, 3) == Approx(1 + 4 + 0.25).epsilon(1e-9));
  // scaled covariance S2 = c S1: (1 - sqrt c)^2 tr S1
  metrics::Gaussian a{metrics::FVector::Zero(2), metrics::FMatrix(2, 2)}, b = a;
  a.cov << 2, 0.5, 0.5, 1;
  b.cov = 4 * a.cov;
  CHECK(metrics::frechet_distance(a, b) == Approx(1.0 * 3.0).epsilon(1e-12));
  // non-commuting 2x2: tr sqrt(S1 S2) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2))
  b.cov << 1, -0.3, -0.3, 3;
  b.mean << 1, 2;
  double tr = double((a.cov * b.cov).trace()), det = double(a.cov.determinant() * b.cov.determinant());
  double expect = 5 + double(a.cov.trace() + b.cov.trace()) - 2 * std::sqrt(tr + 2 * std::sqrt(det));
  CHECK(metrics::frechet_distance(a, b) == Approx(expect).epsilon(1e-12));
  CHECK_THROWS_AS(metrics::frechet_distance({1, 2}, 1, {1, 2}, 1, 2), Error);
}
