// COCO captions JSON, Karpathy split files and results files: round trips and malformed inputs.
#include <catch2/catch.hpp>

#include "test_util.hpp"

#include <filesystem>
#include <string>

#include "unigen/data/coco.hpp"
#include "unigen/metrics/caption.hpp"

using namespace unigen;

namespace {

using unigen::testing::error_of;
using unigen::testing::temp_dir;

}  // namespace

TEST_CASE("COCO captions: write then read gives the same data", "[coco]") {
  auto dir = temp_dir("coco_roundtrip");
  data::CocoCaptions c;
  c.images = {{1, "a.png", 64, 64}, {7, "b.png", 32, 16}};
  c.annotations = {{10, 1, "A red apple."}, {11, 1, "an apple"}, {12, 7, "a banana"}};
  std::string path = (dir / "captions.json").string();
  data::write_coco(path, c);
  auto r = data::read_coco(path);
  REQUIRE(r.images.size() == 2);
  CHECK(r.images[1].id == 7);
  CHECK(r.images[1].file_name == "b.png");
  CHECK(r.images[1].height == 16);
  REQUIRE(r.annotations.size() == 3);
  CHECK(r.annotations[0].caption == "A red apple.");
  CHECK(r.captions_by_image()[1].size() == 2);
  std::filesystem::remove_all(dir);
}

TEST_CASE("COCO captions: malformed files name the file, the place and the expectation", "[coco]") {
  auto bad = [](const std::string& text) {
    return error_of([&] { data::coco_from_json(data::parse_json(text, "c.json"), "c.json"); });
  };
  CHECK(bad("{\"images\": [], \"annotations\": [").find("c.json: invalid JSON at byte") != std::string::npos);
  CHECK(bad("").find("c.json: invalid JSON") != std::string::npos);
  CHECK(bad("{\"images\": [1e99999]}").find("c.json: invalid JSON") != std::string::npos);  // number overflow
  CHECK(bad("{\"annotations\": []}").find("missing key \"images\"") != std::string::npos);
  CHECK(bad("{\"images\": {}, \"annotations\": []}").find("c.json: top level.images: expected array") !=
        std::string::npos);
  CHECK(bad("{\"images\": [{\"id\": \"1\", \"file_name\": \"a\"}], \"annotations\": []}")
            .find("images[0].id: expected integer, found string") != std::string::npos);
  CHECK(bad("{\"images\": [{\"id\": 1, \"file_name\": \"a\"}, {\"id\": 1, \"file_name\": \"b\"}], \"annotations\": []}")
            .find("images[1].id: image id 1 appears more than once") != std::string::npos);
  CHECK(bad("{\"images\": [{\"id\": 1, \"file_name\": \"a\"}], \"annotations\": [{\"id\": 1, \"image_id\": 2, "
            "\"caption\": \"x\"}]}")
            .find("annotations[0].image_id: 2 is not the id of any image") != std::string::npos);
  CHECK(bad("{\"images\": [{\"id\": 1, \"file_name\": \"a\"}], \"annotations\": [{\"id\": 1, \"image_id\": 1}]}")
            .find("annotations[0]: missing key \"caption\"") != std::string::npos);
  CHECK(error_of([] { data::read_coco("/nonexistent/c.json"); }).find("/nonexistent/c.json: cannot open") !=
        std::string::npos);
  auto dir = std::filesystem::temp_directory_path();
  CHECK(error_of([&] { data::read_coco(dir.string()); }).find("is a folder") != std::string::npos);
}

TEST_CASE("split file: round trip, tokens made when missing, bad split names rejected", "[coco]") {
  auto dir = temp_dir("coco_split");
  data::SplitFile s;
  s.dataset = "toy";
  s.images.push_back({0, 5, "", "a.png", "train", {{"A cat.", {"a", "cat"}}}});
  s.images.push_back({1, 6, "", "b.png", "test", {{"A dog.", {"a", "dog"}}, {"dog", {"dog"}}}});
  std::string path = (dir / "split.json").string();
  data::write_split(path, s);
  auto r = data::read_split(path);
  CHECK(r.dataset == "toy");
  REQUIRE(r.images.size() == 2);
  CHECK(r.images[1].sentences[1].tokens == std::vector<std::string>{"dog"});
  CHECK(r.images[0].cocoid == 5);
  CHECK(r.of_split("test").size() == 1);
  auto t = data::split_from_json(
      data::parse_json("{\"images\": [{\"imgid\": 0, \"filename\": \"x\", \"split\": \"restval\", "
                       "\"sentences\": [{\"raw\": \"Two Birds!\"}]}]}",
                       "s.json"),
      "s.json");
  CHECK(t.images[0].sentences[0].tokens == std::vector<std::string>{"two", "birds"});
  CHECK(t.of_split("train").size() == 1);
  auto e = error_of([] {
    data::split_from_json(data::parse_json("{\"images\": [{\"imgid\": 0, \"filename\": \"x\", \"split\": \"dev\", "
                                           "\"sentences\": []}]}",
                                           "s.json"),
                          "s.json");
  });
  CHECK(e.find("s.json: images[0].split: expected \"train\"") != std::string::npos);
  e = error_of([] {
    data::split_from_json(data::parse_json("{\"images\": [{\"imgid\": 0, \"filename\": \"x\", \"split\": \"val\", "
                                           "\"sentences\": [{\"raw\": \"a\", \"tokens\": [1]}]}]}",
                                           "s.json"),
                          "s.json");
  });
  CHECK(e.find("images[0].sentences[0].tokens[0]: expected string") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("results + annotations -> normalised caption samples", "[coco]") {
  data::CocoCaptions c;
  c.images = {{1, "a.png", 1, 1}, {2, "b.png", 1, 1}};
  c.annotations = {{1, 1, "A red Apple."}, {2, 1, "an apple"}, {3, 2, "a banana"}};
  auto rs = data::results_from_json(data::parse_json(R"([{"image_id": 2, "caption": "A banana!"}])", "r.json"), "r.json");
  auto samples = metrics::caption_samples_from_coco(rs, c, "r.json");
  REQUIRE(samples.size() == 1);
  CHECK(samples[0].candidate == "a banana");
  CHECK(samples[0].refs == std::vector<std::string>{"a banana"});
  auto s = metrics::score_captions(samples);
  CHECK(s.bleu[0] == Approx(1.0));
  rs[0].image_id = 3;
  CHECK(error_of([&] { metrics::caption_samples_from_coco(rs, c, "r.json"); })
            .find("r.json: [0].image_id: 3 has no captions") != std::string::npos);
  CHECK(error_of([] {
          data::results_from_json(
              data::parse_json(R"([{"image_id": 2, "caption": "x"}, {"image_id": 2, "caption": "y"}])", "r.json"),
              "r.json");
        }).find("more than one caption") != std::string::npos);
  CHECK(error_of([] { data::results_from_json(data::parse_json("{}", "r.json"), "r.json"); })
            .find("expected an array") != std::string::npos);
}

TEST_CASE("atomic writes leave the old file when the new one cannot be written", "[coco]") {
  auto dir = temp_dir("coco_atomic");
  std::string path = (dir / "f.json").string();
  data::write_text_atomic(path, "old");
  std::filesystem::create_directories(dir / "blocked.json");  // a folder where the file should go
  CHECK_THROWS_AS(data::write_text_atomic((dir / "blocked.json").string(), "new"), Error);
  CHECK(data::read_text(path) == "old");
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) files += e.is_regular_file();
  CHECK(files == 1);  // no temp file left behind
  std::filesystem::remove_all(dir);
}
