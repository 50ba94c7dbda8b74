#pragma once
// All caption metrics at once (BLEU-1..4, ROUGE-L, CIDEr-D) over a set of images, each with its tokenised
// references and one candidate, plus readers for the caption-set JSON formats unigen-eval takes.
#include <array>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "unigen/core/error.hpp"
#include "unigen/data/coco.hpp"
#include "unigen/data/file.hpp"
#include "unigen/metrics/bleu.hpp"
#include "unigen/metrics/cider.hpp"
#include "unigen/metrics/rouge.hpp"
#include "unigen/text/normalize.hpp"

namespace unigen::metrics {

// One image: its references and its candidate, as tokenised text (tokens separated by spaces).
struct CaptionSample {
  std::vector<std::string> refs;
  std::string candidate;
};

// Corpus values (as the reference scorers print them, not x100) and per-image values.
struct CaptionScores {
  std::array<double, 4> bleu{};
  double rouge_l = 0, cider_d = 0;
  std::vector<std::array<double, 4>> bleu_per_image;
  std::vector<double> rouge_l_per_image, cider_d_per_image;
};

// Scores every sample; texts are split on whitespace (they must already be tokenised).
inline CaptionScores score_captions(const std::vector<CaptionSample>& samples) {
  check(!samples.empty(), "score_captions: no images to score");
  std::vector<Tokens> cands;
  std::vector<std::vector<Tokens>> refs;
  for (size_t i = 0; i < samples.size(); ++i) {
    check(!samples[i].refs.empty(), "score_captions: image ", i, " has no references");
    cands.push_back(text::split_words(samples[i].candidate));
    std::vector<Tokens> r;
    for (const auto& s : samples[i].refs) r.push_back(text::split_words(s));
    refs.push_back(std::move(r));
  }
  CaptionScores out;
  BleuScores b = bleu(cands, refs);
  out.bleu = b.corpus;
  out.bleu_per_image = std::move(b.per_image);
  for (size_t i = 0; i < cands.size(); ++i) out.rouge_l_per_image.push_back(rouge_l(cands[i], refs[i]));
  out.rouge_l = std::accumulate(out.rouge_l_per_image.begin(), out.rouge_l_per_image.end(), 0.0) /
                double(cands.size());
  CiderScores c = cider_d(cands, refs);
  out.cider_d = c.corpus;
  out.cider_d_per_image = std::move(c.per_image);
  return out;
}

// Reads {"images": [{"refs": [...], "candidate": "..."}, ...]}; texts are taken as already tokenised.
inline std::vector<CaptionSample> caption_samples_from_json(const nlohmann::json& j, const std::string& file) {
  const auto& images = data::member(j, "images", "array", file, "top level");
  std::vector<CaptionSample> out;
  for (size_t i = 0; i < images.size(); ++i) {
    std::string where = "images[" + std::to_string(i) + "]";
    CaptionSample s;
    const auto& refs = data::member(images[i], "refs", "array", file, where);
    check(!refs.empty(), file, ": ", where, ".refs: expected at least one reference");
    for (size_t r = 0; r < refs.size(); ++r) {
      check(refs[r].is_string(), file, ": ", where, ".refs[", r, "]: expected string, found ", refs[r].type_name());
      s.refs.push_back(refs[r].get<std::string>());
    }
    s.candidate = data::member(images[i], "candidate", "string", file, where).get<std::string>();
    out.push_back(std::move(s));
  }
  return out;
}

// Reads a caption-set file in the format above.
inline std::vector<CaptionSample> read_caption_samples(const std::string& path) {
  return caption_samples_from_json(data::read_json(path), path);
}

// COCO results + COCO annotations -> samples: one per result, its references the captions of its image;
// all texts normalised (tokenised, lower case, punctuation removed) as the COCO evaluation does.
inline std::vector<CaptionSample> caption_samples_from_coco(const std::vector<data::CocoResult>& results,
                                                            const data::CocoCaptions& annotations,
                                                            const std::string& results_file) {
  auto by_image = annotations.captions_by_image();
  std::vector<CaptionSample> out;
  for (size_t i = 0; i < results.size(); ++i) {
    auto it = by_image.find(results[i].image_id);
    check(it != by_image.end(), results_file, ": [", i, "].image_id: ", results[i].image_id,
          " has no captions in the annotations");
    CaptionSample s;
    for (const auto& r : it->second) s.refs.push_back(text::normalize(r));
    s.candidate = text::normalize(results[i].caption);
    out.push_back(std::move(s));
  }
  return out;
}

// {"bleu_1", .., "bleu_4", "rouge_l", "cider_d"}; with per_image, also "per_image": [{..same keys..}].
inline nlohmann::ordered_json scores_to_json(const CaptionScores& s, bool per_image = false) {
  nlohmann::ordered_json j = {{"bleu_1", s.bleu[0]}, {"bleu_2", s.bleu[1]}, {"bleu_3", s.bleu[2]},
                      {"bleu_4", s.bleu[3]}, {"rouge_l", s.rouge_l}, {"cider_d", s.cider_d}};
  if (per_image) {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (size_t i = 0; i < s.cider_d_per_image.size(); ++i)
      arr.push_back({{"bleu_1", s.bleu_per_image[i][0]}, {"bleu_2", s.bleu_per_image[i][1]},
                     {"bleu_3", s.bleu_per_image[i][2]}, {"bleu_4", s.bleu_per_image[i][3]},
                     {"rouge_l", s.rouge_l_per_image[i]}, {"cider_d", s.cider_d_per_image[i]}});
    j["per_image"] = arr;
  }
  return j;
}

}  // namespace unigen::metrics
