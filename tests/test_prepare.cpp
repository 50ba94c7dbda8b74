// The dataset converters on small synthetic sources: Fashion-MNIST IDX files and a miniature emoji package
// pair (emoji.json + PNGs, openmoji.json), written by the test itself.
#include <catch2/catch.hpp>

#include "test_util.hpp"

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "unigen/data/coco.hpp"
#include "unigen/data/emoji.hpp"
#include "unigen/data/fashion_mnist.hpp"
#include "unigen/data/image.hpp"

using namespace unigen;
namespace fs = std::filesystem;

namespace {

using unigen::testing::error_of;
using unigen::testing::temp_dir;

// An IDX file of n images [n, 4, 3] or labels [n].
std::vector<unsigned char> idx(uint32_t n, bool images, uint8_t first_label = 0) {
  std::vector<unsigned char> b = {0, 0, 8, uint8_t(images ? 3 : 1), 0, 0, uint8_t(n >> 8), uint8_t(n)};
  if (images) b.insert(b.end(), {0, 0, 0, 4, 0, 0, 0, 3});
  for (uint32_t i = 0; i < n; ++i) {
    if (images)
      for (int k = 0; k < 12; ++k) b.push_back(uint8_t(i * 20 + uint32_t(k)));
    else
      b.push_back(uint8_t((first_label + i) % 10));
  }
  return b;
}

}  // namespace

TEST_CASE("fashion-mnist: official split kept, captions from the class, PNGs written", "[prepare]") {
  auto src = temp_dir("prepare_fm_src"), out = temp_dir("prepare_fm_out");
  auto put = [&](const std::string& name, const std::vector<unsigned char>& b) {
    data::write_atomic((src / name).string(), b.data(), b.size());
  };
  put("train-images-idx3-ubyte", idx(6, true));
  put("train-labels-idx1-ubyte", idx(6, false, 4));
  put("t10k-images-idx3-ubyte", idx(2, true));
  put("t10k-labels-idx1-ubyte", idx(2, false, 9));
  auto c = data::prepare_fashion_mnist(src.string(), out.string());
  CHECK(c.images == 8);
  CHECK(c.images_per_split["train"] == 6);
  CHECK(c.images_per_split["test"] == 2);
  CHECK(c.captions == 8 * 5);
  auto coco = data::read_coco((out / "captions.json").string());
  REQUIRE(coco.images.size() == 8);
  CHECK(coco.images[6].id == 6);
  CHECK(coco.images[6].file_name == "test_00000.png");
  auto caps = coco.captions_by_image();
  CHECK(caps[6][0] == "an ankle boot");
  CHECK(caps[0][1] == "a photo of a coat");
  auto split = data::read_split((out / "split.json").string());
  CHECK(split.of_split("test").size() == 2);
  CHECK(data::read_coco((out / "captions_test.json").string()).images.size() == 2);
  auto img = data::load_image((out / "images" / "train_00001.png").string(), 1);
  CHECK(img.height == 4);
  CHECK(img.width == 3);
  CHECK(img.at(0, 0, 1) == Approx(data::byte_to_unit(21)));
  // mismatched counts and bad labels are rejected, naming the file
  put("t10k-labels-idx1-ubyte", idx(3, false));
  CHECK(error_of([&] { data::prepare_fashion_mnist(src.string(), out.string()); }).find("labels") !=
        std::string::npos);
  auto bad = idx(2, false);
  bad.back() = 42;
  put("t10k-labels-idx1-ubyte", bad);
  CHECK(error_of([&] { data::prepare_fashion_mnist(src.string(), out.string()); }).find("label 42") !=
        std::string::npos);
  fs::remove(src / "t10k-labels-idx1-ubyte");
  CHECK(error_of([&] { data::prepare_fashion_mnist(src.string(), out.string()); }).find("t10k-labels-idx1-ubyte") !=
        std::string::npos);
  fs::remove_all(src);
  fs::remove_all(out);
}

TEST_CASE("emoji: variants in their base's split, references normalised and de-duplicated", "[prepare]") {
  auto cache = temp_dir("prepare_emoji_src"), out = temp_dir("prepare_emoji_out");
  auto google = cache / "emoji-datasource-google", openmoji = cache / "openmoji";
  fs::create_directories(google / "img" / "google" / "64");
  fs::create_directories(openmoji / "data");
  nlohmann::json ej = nlohmann::json::array(), om = nlohmann::json::array();
  const char* tones[] = {"1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF"};
  auto png = data::encode_png(data::Image::filled(3, 8, 8, 0.5f));
  auto write_png = [&](const std::string& file) {
    data::write_atomic((google / "img" / "google" / "64" / file).string(), png.data(), png.size());
  };
  for (int i = 0; i < 40; ++i) {
    std::string code = "1F" + std::to_string(300 + i);
    nlohmann::json e = {{"name", "TEST FACE " + std::to_string(i)}, {"unified", code + "-FE0F"},
                        {"image", code + ".png"}};
    write_png(code + ".png");
    om.push_back({{"hexcode", code}, {"annotation", i % 2 ? "test face " + std::to_string(i) : "other: thing!"}});
    if (i % 4 == 0) {
      nlohmann::json sv = nlohmann::json::object();
      for (const char* t : tones) {
        std::string vc = code + "-" + t;
        sv[t] = {{"unified", vc}, {"image", vc + ".png"}};
        write_png(vc + ".png");
      }
      e["skin_variations"] = sv;
    }
    ej.push_back(e);
  }
  data::write_json((google / "emoji.json").string(), ej);
  data::write_json((openmoji / "data" / "openmoji.json").string(), om);
  auto c = data::prepare_emoji(google.string(), openmoji.string(), out.string(), 7);
  CHECK(c.base_emoji == 40);
  CHECK(c.variants == 50);
  CHECK(c.dataset.images == 90);
  CHECK(c.base_per_split["val"] == 2);
  CHECK(c.base_per_split["test"] == 2);
  CHECK(c.base_per_split["train"] == 36);
  auto split = data::read_split((out / "split.json").string());
  REQUIRE(split.images.size() == 90);
  // all variants of one base emoji share its split
  std::string base_split;
  for (const auto& im : split.images) {
    bool variant = im.filename.find('-') != std::string::npos;
    if (!variant) base_split = im.split;
    else CHECK(im.split == base_split);
  }
  // even emoji: name and annotation differ -> two references, punctuation removed
  CHECK(split.images[0].sentences.size() == 2);
  CHECK(split.images[0].sentences[1].raw == "other thing");
  CHECK(split.images[1].sentences.size() == 1);  // variant: its name only (no annotation in this openmoji.json)
  // odd emoji: name and annotation normalise to the same text -> one reference
  const data::SplitImage* odd = nullptr;
  for (const auto& im : split.images)
    if (im.filename == "1F301.png") odd = &im;
  REQUIRE(odd != nullptr);
  CHECK(odd->sentences.size() == 1);
  CHECK(odd->sentences[0].raw == "test face 1");
  CHECK(split.images[1].sentences[0].raw == "test face 0 light skin tone");
  CHECK(c.without_annotation == 50);
  CHECK(fs::exists(out / "images" / "1F300-1F3FB.png"));
  // the same seed gives the same split
  auto out2 = temp_dir("prepare_emoji_out2");
  data::prepare_emoji(google.string(), openmoji.string(), out2.string(), 7);
  CHECK(data::read_text((out / "split.json").string()) == data::read_text((out2 / "split.json").string()));
  // a malformed emoji.json names the file and the place
  data::write_text_atomic((google / "emoji.json").string(), R"([{"name": "X", "unified": 5, "image": "x.png"}])");
  CHECK(error_of([&] { data::prepare_emoji(google.string(), openmoji.string(), out2.string()); })
            .find("emoji.json: [0].unified: expected string") != std::string::npos);
  fs::remove_all(cache);
  fs::remove_all(out);
  fs::remove_all(out2);
}
