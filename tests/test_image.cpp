// Image I/O: PNG/BMP/JPEG decode (alpha on white), resize, PNG round trip, grids, tensors, and rejection of
// truncated or garbage files.
#include <catch2/catch.hpp>

#include "test_util.hpp"

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "unigen/data/image.hpp"
#include "unigen/data/image_tensor.hpp"

using namespace unigen;
using data::Image;

namespace {

using unigen::testing::error_of;

// A 3-channel test pattern: red-green gradient, blue constant.
Image pattern(int h, int w) {
  Image img = Image::filled(3, h, w, 0.0f);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      img.at(0, y, x) = data::byte_to_unit(float(x * 255 / std::max(1, w - 1)));
      img.at(1, y, x) = data::byte_to_unit(float(y * 255 / std::max(1, h - 1)));
      img.at(2, y, x) = data::byte_to_unit(100);
    }
  return img;
}

// Encodes RGBA bytes with stb_image_write into the given format ("png", "bmp", "jpg").
std::vector<unsigned char> encode_rgba(const std::vector<unsigned char>& px, int w, int h, const std::string& fmt) {
  std::vector<unsigned char> out;
  auto sink = [](void* ctx, void* d, int n) {
    auto* o = static_cast<std::vector<unsigned char>*>(ctx);
    o->insert(o->end(), static_cast<unsigned char*>(d), static_cast<unsigned char*>(d) + n);
  };
  if (fmt == "png") stbi_write_png_to_func(sink, &out, w, h, 4, px.data(), w * 4);
  if (fmt == "bmp") stbi_write_bmp_to_func(sink, &out, w, h, 4, px.data());
  if (fmt == "jpg") stbi_write_jpg_to_func(sink, &out, w, h, 4, px.data(), 95);
  return out;
}

}  // namespace

TEST_CASE("PNG encode/decode round trip is exact on 8-bit values", "[image]") {
  Image a = pattern(9, 13);
  auto png = data::encode_png(a);
  Image b = data::decode_image(png.data(), png.size(), "mem.png", 3);
  REQUIRE(b.height == 9);
  REQUIRE(b.width == 13);
  for (size_t i = 0; i < a.data.size(); ++i) CHECK(std::abs(a.data[i] - b.data[i]) < 1e-6f);
  Image g = data::decode_image(png.data(), png.size(), "mem.png", 1);
  CHECK(g.channels == 1);
}

TEST_CASE("alpha is composited on white; BMP and JPEG decode", "[image]") {
  // 2x1 RGBA: opaque black, fully transparent black
  std::vector<unsigned char> px = {0, 0, 0, 255, 0, 0, 0, 0};
  for (std::string fmt : {"png", "bmp"}) {
    auto bytes = encode_rgba(px, 2, 1, fmt);
    Image img = data::decode_image(bytes.data(), bytes.size(), "mem." + fmt, 3);
    INFO(fmt);
    CHECK(img.at(0, 0, 0) == Approx(-1.0f));
    CHECK(img.at(0, 0, 1) == Approx(1.0f));  // transparent -> white
    Image rgba = data::decode_image(bytes.data(), bytes.size(), "mem." + fmt, 4);
    CHECK(rgba.at(3, 0, 1) == Approx(-1.0f));
  }
  std::vector<unsigned char> grey(16 * 16 * 4, 128);
  for (size_t i = 3; i < grey.size(); i += 4) grey[i] = 255;
  auto jpg = encode_rgba(grey, 16, 16, "jpg");
  Image j = data::decode_image(jpg.data(), jpg.size(), "mem.jpg", 3);
  CHECK(j.at(1, 8, 8) == Approx(data::byte_to_unit(128)).margin(0.03));
}

TEST_CASE("resize: shrinking averages areas, constant images stay constant", "[image]") {
  Image a = Image::filled(1, 4, 4, -1.0f);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) a.at(0, y, x) = (x < 2) ? -1.0f : 1.0f;  // left half black, right white
  Image s = data::resize_image(a, 2, 2);
  CHECK(s.at(0, 0, 0) == Approx(-1.0f).margin(1e-5));
  CHECK(s.at(0, 0, 1) == Approx(1.0f).margin(1e-5));
  Image c = Image::filled(3, 5, 7, 0.25f);
  Image big = data::resize_image(c, 12, 9);
  for (float v : big.data) CHECK(v == Approx(0.25f).margin(1e-5));
  Image half = data::resize_image(pattern(8, 8), 4, 4);
  CHECK(half.height == 4);
  CHECK_THROWS_AS(data::resize_image(a, 0, 3), Error);
}

TEST_CASE("grid and PNG file writing", "[image]") {
  auto dir = std::filesystem::temp_directory_path() / "unigen_test_image";
  std::filesystem::create_directories(dir);
  std::vector<Image> imgs(5, pattern(4, 6));
  Image g = data::make_grid(imgs, 3, 1);
  CHECK(g.height == 1 + 2 * (4 + 1));
  CHECK(g.width == 1 + 3 * (6 + 1));
  CHECK(g.at(0, 0, 0) == 1.0f);
  CHECK(g.at(0, 1, 1) == imgs[0].at(0, 0, 0));
  std::string path = (dir / "grid.png").string();
  data::write_image_grid(path, imgs, 3, 1);
  Image r = data::load_image(path);
  CHECK(r.width == g.width);
  imgs.push_back(pattern(5, 6));
  CHECK_THROWS_AS(data::make_grid(imgs, 3), Error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("image <-> tensor", "[image]") {
  Image a = pattern(3, 5);
  auto t = data::image_to_tensor(a);
  CHECK(t.shape() == std::vector<int64_t>{3, 3, 5});
  Image b = data::tensor_to_image(t);
  CHECK(b.data == a.data);
  auto batch = data::images_to_tensor({a, a});
  CHECK(batch.shape() == std::vector<int64_t>{2, 3, 3, 5});
  auto back = data::tensor_to_images(batch);
  REQUIRE(back.size() == 2);
  CHECK(back[1].data == a.data);
  CHECK_THROWS_AS(data::tensor_to_image(batch), Error);
}

TEST_CASE("truncated and garbage image files give Error naming the file", "[image]") {
  auto png = data::encode_png(pattern(16, 16));
  std::vector<unsigned char> px(16 * 16 * 4, 200);
  auto jpg = encode_rgba(px, 16, 16, "jpg");
  auto bmp = encode_rgba(px, 16, 16, "bmp");
  for (auto* bytes : {&png, &jpg, &bmp}) {
    for (size_t cut : {size_t(1), size_t(8), size_t(30), bytes->size() / 2, bytes->size() - 1}) {
      std::vector<unsigned char> t(bytes->begin(), bytes->begin() + long(cut));
      // stb may decode a truncated JPEG/BMP partially; it must never crash, and errors name the file
      std::string e = error_of([&] { data::decode_image(t.data(), t.size(), "cut.img", 3); });
      CHECK((e == "no error" || e.find("cut.img") == 0));
    }
  }
  std::vector<unsigned char> garbage(300);
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<unsigned char>(i * 37 + 11);
  CHECK(error_of([&] { data::decode_image(garbage.data(), garbage.size(), "junk.png"); }).find("junk.png: not a") == 0);
  CHECK(error_of([&] { data::decode_image(garbage.data(), 0, "empty.png"); }).find("empty.png: empty") == 0);
  // a PNG header that claims 100000 x 100000 pixels
  std::vector<unsigned char> big(png.begin(), png.begin() + 33);
  big[16] = 0, big[17] = 1, big[18] = 0x86, big[19] = 0xA0, big[20] = 0, big[21] = 1, big[22] = 0x86, big[23] = 0xA0;
  std::string e = error_of([&] { data::decode_image(big.data(), big.size(), "huge.png"); });
  CHECK(e.find("huge.png") == 0);
  CHECK(error_of([] { data::load_image("/nonexistent/x.png"); }).find("/nonexistent/x.png: cannot open") == 0);
}
