// libFuzzer target: COCO captions JSON and COCO results JSON. Any input must parse or throw unigen::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "unigen/data/coco.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto j = unigen::data::parse_json(text, "fuzz.json");
    try {
      auto c = unigen::data::coco_from_json(j, "fuzz.json");
      (void)c.captions_by_image();
      (void)unigen::data::coco_to_json(c).dump();
    } catch (const unigen::Error&) {
    }
    (void)unigen::data::results_from_json(j, "fuzz.json");
  } catch (const unigen::Error&) {
  }
  return 0;
}
