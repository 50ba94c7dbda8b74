// IDX reading (plain and gzip), the inflate implementation, and rejection of truncated or garbage files.
#include <catch2/catch.hpp>

#include "test_util.hpp"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "unigen/data/idx.hpp"

// stb_image_write's zlib compressor (in libstb, not declared by the public header).
extern "C" unsigned char* stbi_zlib_compress(unsigned char* data, int data_len, int* out_len, int quality);

using namespace unigen;
using Bytes = std::vector<unsigned char>;

namespace {

using unigen::testing::error_of;

// An IDX file of unsigned bytes with the given shape, element i = (i * 7 + 3) mod 256.
Bytes make_idx(const std::vector<uint32_t>& shape) {
  Bytes b = {0, 0, 0x08, uint8_t(shape.size())};
  size_t total = 1;
  for (uint32_t s : shape) {
    b.push_back(uint8_t(s >> 24)), b.push_back(uint8_t(s >> 16)), b.push_back(uint8_t(s >> 8)), b.push_back(uint8_t(s));
    total *= s;
  }
  for (size_t i = 0; i < total; ++i) b.push_back(uint8_t(i * 7 + 3));
  return b;
}

// gzip member around stb's deflate output (zlib header and adler32 stripped), with optional FNAME.
Bytes make_gzip(const Bytes& data, bool with_name = false) {
  int len = 0;
  unsigned char* z = stbi_zlib_compress(const_cast<unsigned char*>(data.data()), int(data.size()), &len, 8);
  Bytes g = {0x1F, 0x8B, 8, uint8_t(with_name ? 0x08 : 0), 0, 0, 0, 0, 0, 3};
  if (with_name) {
    for (char c : std::string("file.idx")) g.push_back(uint8_t(c));
    g.push_back(0);
  }
  g.insert(g.end(), z + 2, z + len - 4);
  std::free(z);
  uint32_t crc = data::crc32(data.data(), data.size()), n = uint32_t(data.size());
  for (int k = 0; k < 4; ++k) g.push_back(uint8_t(crc >> (8 * k)));
  for (int k = 0; k < 4; ++k) g.push_back(uint8_t(n >> (8 * k)));
  return g;
}

// gzip member with one stored (uncompressed) deflate block.
Bytes make_gzip_stored(const Bytes& data) {
  Bytes g = {0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0x01};
  uint16_t n = uint16_t(data.size());
  g.push_back(uint8_t(n)), g.push_back(uint8_t(n >> 8)), g.push_back(uint8_t(~n)), g.push_back(uint8_t(~n >> 8));
  g.insert(g.end(), data.begin(), data.end());
  uint32_t crc = data::crc32(data.data(), data.size()), sz = uint32_t(data.size());
  for (int k = 0; k < 4; ++k) g.push_back(uint8_t(crc >> (8 * k)));
  for (int k = 0; k < 4; ++k) g.push_back(uint8_t(sz >> (8 * k)));
  return g;
}

}  // namespace

TEST_CASE("IDX: shape and data of a plain file", "[idx]") {
  Bytes b = make_idx({3, 4, 5});
  auto a = data::parse_idx(b.data(), b.size(), "x.idx");
  CHECK(a.shape == std::vector<int64_t>{3, 4, 5});
  REQUIRE(a.data.size() == 60);
  CHECK(a.data[59] == uint8_t(59 * 7 + 3));
}

TEST_CASE("gzip: compressed, named and stored members inflate exactly; CRC is known", "[idx]") {
  CHECK(data::crc32(reinterpret_cast<const unsigned char*>("123456789"), 9) == 0xCBF43926u);
  Bytes b = make_idx({50, 28, 28});
  for (bool named : {false, true}) {
    Bytes g = make_gzip(b, named);
    CHECK(data::gunzip(g.data(), g.size(), "x.gz") == b);
  }
  Bytes small = make_idx({10});
  Bytes s = make_gzip_stored(small);
  CHECK(data::gunzip(s.data(), s.size(), "s.gz") == small);
  Bytes big = make_idx({300000});
  Bytes gb = make_gzip(big);
  CHECK(data::gunzip(gb.data(), gb.size(), "b.gz") == big);
  CHECK(error_of([&] { data::gunzip(gb.data(), gb.size(), "b.gz", 1000); }).find("exceeds 1000 bytes") !=
        std::string::npos);
}

TEST_CASE("read_idx: files on disk, plain and .gz", "[idx]") {
  auto dir = std::filesystem::temp_directory_path() / "unigen_test_idx";
  std::filesystem::create_directories(dir);
  Bytes b = make_idx({7, 2});
  Bytes g = make_gzip(b);
  std::string plain = (dir / "a-idx2-ubyte").string(), gz = (dir / "a-idx2-ubyte.gz").string();
  data::write_atomic(plain, b.data(), b.size());
  data::write_atomic(gz, g.data(), g.size());
  CHECK(data::read_idx(plain).data == data::read_idx(gz).data);
  CHECK(data::read_idx(gz).shape == std::vector<int64_t>{7, 2});
  std::filesystem::remove_all(dir);
}

TEST_CASE("Debian's Fashion-MNIST labels inflate (a stream stb_image's inflate rejects)", "[idx]") {
  std::string p = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
  if (!std::filesystem::exists(p)) return;  // dataset-fashion-mnist not installed
  auto a = data::read_idx(p);
  CHECK(a.shape == std::vector<int64_t>{10000});
  CHECK(a.data[0] == 9);  // the first test image is an ankle boot
}

TEST_CASE("truncated and garbage IDX / gzip data give Error naming the file", "[idx]") {
  Bytes b = make_idx({4, 6});
  for (size_t cut : {size_t(0), size_t(3), size_t(5), size_t(11), b.size() - 1}) {
    Bytes t(b.begin(), b.begin() + long(cut));
    CHECK(error_of([&] { data::parse_idx(t.data(), t.size(), "t.idx"); }).find("t.idx: ") == 0);
  }
  Bytes extra = b;
  extra.push_back(0);
  CHECK(error_of([&] { data::parse_idx(extra.data(), extra.size(), "e.idx"); }).find("needs 24") != std::string::npos);
  Bytes wrong_type = b;
  wrong_type[2] = 0x0D;
  CHECK(error_of([&] { data::parse_idx(wrong_type.data(), wrong_type.size(), "f.idx"); }).find("type 13") !=
        std::string::npos);
  Bytes huge = {0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  CHECK(error_of([&] { data::parse_idx(huge.data(), huge.size(), "h.idx"); }).find("h.idx: ") == 0);

  Bytes g = make_gzip(make_idx({20, 20}));
  for (size_t cut = 0; cut < g.size(); cut += 7) {
    Bytes t(g.begin(), g.begin() + long(cut));
    CHECK(error_of([&] { data::gunzip(t.data(), t.size(), "c.gz"); }).find("c.gz: ") == 0);
  }
  Bytes flipped = g;
  flipped[flipped.size() / 2] ^= 0x55;
  CHECK(error_of([&] { data::gunzip(flipped.data(), flipped.size(), "x.gz"); }).find("x.gz: ") == 0);
  Bytes garbage(500);
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = uint8_t(i * 131 + 17);
  garbage[0] = 0x1F, garbage[1] = 0x8B, garbage[2] = 8, garbage[3] = 0;
  CHECK(error_of([&] { data::gunzip(garbage.data(), garbage.size(), "g.gz"); }).find("g.gz: ") == 0);
  CHECK(error_of([] { data::read_idx("/nonexistent/a.idx"); }).find("/nonexistent/a.idx: cannot open") == 0);
}
