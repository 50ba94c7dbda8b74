// Caption normalisation (COCO/PTB-style) and the vocabulary: build, encode/decode batches, save/load.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "unigen/text/normalize.hpp"
#include "unigen/text/vocab.hpp"

using namespace unigen;
using V = std::vector<std::string>;

TEST_CASE("normalize: lower case, punctuation removed, PTB clitics", "[text]") {
  CHECK(text::normalize("A Man riding a Horse.") == "a man riding a horse");
  CHECK(text::normalize("  two dogs,  playing!  ") == "two dogs playing");
  CHECK(text::tokenize("The dog's ball (red).") == V{"the", "dog", "'s", "ball", "red"});
  CHECK(text::tokenize("it don't work") == V{"it", "do", "n't", "work"});
  CHECK(text::normalize("waving hand: light skin tone") == "waving hand light skin tone");
  CHECK(text::normalize("T-shirt -- on a 3.5 m pole...") == "t-shirt on a 3.5 m pole");
  CHECK(text::normalize("flag: Côte d’Ivoire") == "flag côte d'ivoire");
  CHECK(text::normalize("\"quoted\" 'word'") == "quoted word");
  CHECK(text::normalize("ÉCLAIR") == "éclair");
  CHECK(text::normalize("") == "");
  CHECK(text::normalize("?!.,;:") == "");
  CHECK(text::split_words(" a \t b\n") == V{"a", "b"});
  CHECK(text::join_words({"a", "b"}) == "a b");
}

TEST_CASE("vocab: specials, min count, order, unknown words", "[text]") {
  auto v = text::Vocab::build({"a red shoe", "a blue shoe", "a shoe", "one hat"}, 2);
  CHECK(v.size() == text::Vocab::num_special + 2);
  CHECK(v.word(text::Vocab::pad) == "<pad>");
  CHECK(v.word(text::Vocab::mask) == "<mask>");
  CHECK(v.id("a") == 5);  // most frequent first (a: 3, shoe: 3 -> alphabetical among ties)
  CHECK(v.id("shoe") == 6);
  CHECK(v.id("hat") == text::Vocab::unk);
  CHECK(v.encode("A shoe!") == std::vector<int64_t>{1, 5, 6, 2});
  CHECK(v.decode({1, 5, 3, 6, 2, 5, 0}) == "a <unk> shoe");
  CHECK_THROWS_AS(v.word(99), Error);
}

TEST_CASE("vocab: batches are padded, cut with eos kept, and decode back", "[text]") {
  auto v = text::Vocab::build({"a b c d e f"});
  auto b = v.encode_batch({"a b", "a b c d e f", ""});
  CHECK(b.batch == 3);
  CHECK(b.length == 8);
  CHECK(b.lengths == std::vector<int64_t>{4, 8, 2});
  CHECK(b.ids[size_t(4)] == text::Vocab::pad);
  CHECK(v.decode_batch(b.ids, b.batch, b.length) == V{"a b", "a b c d e f", ""});
  auto c = v.encode_batch({"a b c d e f"}, 5);
  CHECK(c.length == 5);
  CHECK(c.ids.back() == text::Vocab::eos);
  CHECK(v.decode_batch(c.ids, 1, 5) == V{"a b c"});
  CHECK_THROWS_AS(v.decode_batch(c.ids, 2, 5), Error);
}

TEST_CASE("vocab: save and load round trip; malformed files rejected", "[text]") {
  auto dir = std::filesystem::temp_directory_path() / "unigen_test_text";
  std::filesystem::create_directories(dir);
  std::string path = (dir / "vocab.json").string();
  auto v = text::Vocab::build({"the cat sat", "the dog sat", "a bird"});
  v.save(path);
  auto w = text::Vocab::load(path);
  REQUIRE(w.size() == v.size());
  for (int64_t i = 0; i < v.size(); ++i) CHECK(w.word(i) == v.word(i));
  data::write_text_atomic(path, "{\"words\": [\"a\", 3]}");
  try {
    text::Vocab::load(path);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("vocab.json: words[1]: expected string") != std::string::npos);
  }
  data::write_text_atomic(path, "{\"words\": [\"a\", \"a\"]}");
  CHECK_THROWS_AS(text::Vocab::load(path), Error);
  data::write_text_atomic(path, "{\"words\": [\"a\"");
  CHECK_THROWS_AS(text::Vocab::load(path), Error);
  std::filesystem::remove_all(dir);
}
