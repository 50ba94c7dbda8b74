// libFuzzer target: PNG / JPEG / BMP decoding (stb_image behind unigen's checks), then resize and PNG encode.
#include <cstddef>
#include <cstdint>

#include "unigen/data/image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto img = unigen::data::decode_image(data, size, "fuzz.img", 3);
    if (int64_t(img.height) * img.width <= 4096) {
      (void)unigen::data::resize_image(img, 8, 8);
      (void)unigen::data::encode_png(img);
    }
  } catch (const unigen::Error&) {
  }
  return 0;
}
