// libFuzzer target: Karpathy-style split JSON (and the text tokenizer on its captions).
#include <cstddef>
#include <cstdint>
#include <string>

#include "unigen/data/coco.hpp"
#include "unigen/text/normalize.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)unigen::text::normalize(text);
  try {
    auto s = unigen::data::split_from_json(unigen::data::parse_json(text, "fuzz.json"), "fuzz.json");
    (void)s.of_split("train");
    (void)unigen::data::split_to_json(s).dump();
  } catch (const unigen::Error&) {
  }
  return 0;
}
