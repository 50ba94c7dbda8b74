// Writes one small valid input per fuzzed format into DIR/<target>/ (the fuzzers' seed corpora).
//   make_seeds DIR
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "unigen/data/file.hpp"
#include "unigen/data/image.hpp"

namespace {

// Writes bytes to DIR/target/name.
void put(const std::string& dir, const std::string& target, const std::string& name, const void* p, size_t n) {
  unigen::data::write_atomic(dir + "/" + target + "/" + name, p, n);
}
void put(const std::string& dir, const std::string& target, const std::string& name, const std::string& text) {
  put(dir, target, name, text.data(), text.size());
}

// stb_image_write sink appending to a byte vector.
void sink(void* ctx, void* data, int size) {
  auto* o = static_cast<std::vector<unsigned char>*>(ctx);
  o->insert(o->end(), static_cast<unsigned char*>(data), static_cast<unsigned char*>(data) + size);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds DIR\n");
    return 2;
  }
  std::string d = argv[1];
  put(d, "fuzz_coco", "captions.json",
      R"({"images":[{"id":1,"file_name":"a.png","width":2,"height":2}],)"
      R"("annotations":[{"id":1,"image_id":1,"caption":"a cat"}]})");
  put(d, "fuzz_coco", "results.json", R"([{"image_id":1,"caption":"a dog"}])");
  put(d, "fuzz_split", "split.json",
      R"({"dataset":"x","images":[{"imgid":0,"filename":"a.png","split":"train",)"
      R"("sentences":[{"raw":"A cat.","tokens":["a","cat"]}]}]})");
  put(d, "fuzz_captions", "set.json",
      R"({"images":[{"refs":["a cat on a mat","the cat"],"candidate":"a cat"},{"refs":["dog"],"candidate":"a dog"}]})");
  std::vector<unsigned char> px(6 * 5 * 4);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>(i * 29 + 7);
  std::vector<unsigned char> png, jpg, bmp;
  stbi_write_png_to_func(sink, &png, 6, 5, 4, px.data(), 6 * 4);
  stbi_write_jpg_to_func(sink, &jpg, 6, 5, 4, px.data(), 80);
  stbi_write_bmp_to_func(sink, &bmp, 6, 5, 4, px.data());
  put(d, "fuzz_image", "seed.png", png.data(), png.size());
  put(d, "fuzz_image", "seed.jpg", jpg.data(), jpg.size());
  put(d, "fuzz_image", "seed.bmp", bmp.data(), bmp.size());
  const unsigned char idx[] = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6};
  put(d, "fuzz_idx", "seed.idx", idx, sizeof idx);
  return 0;
}
