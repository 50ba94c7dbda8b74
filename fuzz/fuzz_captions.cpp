// libFuzzer target: the caption-set JSON unigen-eval reads, then scored by BLEU / ROUGE-L / CIDEr-D.
#include <cstddef>
#include <cstdint>
#include <string>

#include "unigen/metrics/caption.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto samples =
        unigen::metrics::caption_samples_from_json(unigen::data::parse_json(text, "fuzz.json"), "fuzz.json");
    if (!samples.empty() && samples.size() < 200) (void)unigen::metrics::score_captions(samples);
  } catch (const unigen::Error&) {
  }
  return 0;
}
