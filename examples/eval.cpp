// unigen-eval: scores captions with BLEU-1..4, ROUGE-L and CIDEr-D (equal to the COCO caption evaluation).
//   unigen-eval captions FILE [--per-image]                       FILE: {"images":[{"refs":[...],"candidate":"..."}]}
//   unigen-eval captions RESULTS --annotations COCO.json [--per-image]   RESULTS: [{"image_id", "caption"}]
// Prints one JSON object {"bleu_1","bleu_2","bleu_3","bleu_4","rouge_l","cider_d"} (not x100).
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "unigen/core/error.hpp"
#include "unigen/data/coco.hpp"
#include "unigen/metrics/caption.hpp"

namespace {

const char* usage =
    "usage: unigen-eval captions FILE [--per-image]\n"
    "       unigen-eval captions RESULTS.json --annotations COCO_CAPTIONS.json [--per-image]\n"
    "  FILE: {\"images\": [{\"refs\": [...], \"candidate\": \"...\"}]}, texts already tokenised (split on spaces)\n"
    "  RESULTS: COCO results [{\"image_id\": N, \"caption\": \"...\"}]; texts are normalised as COCO does\n"
    "  prints {\"bleu_1\", \"bleu_2\", \"bleu_3\", \"bleu_4\", \"rouge_l\", \"cider_d\"} (as the reference scorers)\n";

// unigen-eval captions ...: parses the arguments, scores, prints the JSON object.
int eval_captions(const std::vector<std::string>& args) {
  std::string file, annotations;
  bool per_image = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--per-image") per_image = true;
    else if (args[i] == "--annotations" && i + 1 < args.size()) annotations = args[++i];
    else if (!args[i].empty() && args[i][0] != '-' && file.empty()) file = args[i];
    else unigen::fail("unknown or incomplete argument \"", args[i], "\"\n", usage);
  }
  unigen::check(!file.empty(), "captions: no FILE given\n", usage);
  std::vector<unigen::metrics::CaptionSample> samples;
  if (annotations.empty()) {
    samples = unigen::metrics::read_caption_samples(file);
  } else {
    auto results = unigen::data::read_results(file);
    auto coco = unigen::data::read_coco(annotations);
    samples = unigen::metrics::caption_samples_from_coco(results, coco, file);
  }
  unigen::check(!samples.empty(), file, ": no images to score");
  auto scores = unigen::metrics::score_captions(samples);
  std::cout << unigen::metrics::scores_to_json(scores, per_image).dump() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return unigen::cli::main("unigen-eval", usage, argc, argv, [](const std::string& cmd, const std::vector<std::string>& rest) {
    return cmd == "captions" ? eval_captions(rest) : unigen::cli::kUnknownCommand;
  });
}
