// libFuzzer target: IDX files, plain and gzip-compressed (unigen's own inflate).
#include <cstddef>
#include <cstdint>

#include "unigen/data/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    if (unigen::data::is_gzip(data, size)) {
      auto raw = unigen::data::gunzip(data, size, "fuzz.gz", size_t(64) << 20);
      (void)unigen::data::parse_idx(raw.data(), raw.size(), "fuzz.gz");
    } else {
      (void)unigen::data::parse_idx(data, size, "fuzz.idx");
    }
  } catch (const unigen::Error&) {
  }
  return 0;
}
