#pragma once
// COCO captions JSON (images + annotations), Karpathy-style split files, and COCO caption results files:
// read with checks that name the file, the place and the expectation; written atomically.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "unigen/core/error.hpp"
#include "unigen/data/file.hpp"
#include "unigen/text/normalize.hpp"

namespace unigen::data {

// images[i] of a COCO captions file.
struct CocoImage {
  int64_t id = 0;
  std::string file_name;
  int64_t width = 0, height = 0;
};

// annotations[i] of a COCO captions file.
struct CocoAnnotation {
  int64_t id = 0;
  int64_t image_id = 0;
  std::string caption;
};

// A COCO captions file: {"images": [{id, file_name, width, height}], "annotations": [{id, image_id, caption}]}.
struct CocoCaptions {
  std::vector<CocoImage> images;
  std::vector<CocoAnnotation> annotations;

  // image id -> its captions, in file order.
  std::map<int64_t, std::vector<std::string>> captions_by_image() const {
    std::map<int64_t, std::vector<std::string>> out;
    for (const auto& a : annotations) out[a.image_id].push_back(a.caption);
    return out;
  }
};

namespace detail {

// An integer member; Error naming file/where when missing or not an integer.
inline int64_t get_int(const nlohmann::json& obj, const char* key, const std::string& file, const std::string& where) {
  return member(obj, key, "integer", file, where).get<int64_t>();
}

// A string member; Error naming file/where when missing or not a string.
inline std::string get_str(const nlohmann::json& obj, const char* key, const std::string& file,
                           const std::string& where) {
  return member(obj, key, "string", file, where).get<std::string>();
}

// "images[3]"
inline std::string at(const char* array, size_t i) { return std::string(array) + "[" + std::to_string(i) + "]"; }

}  // namespace detail

// Parses a COCO captions document; `file` names it in errors. Checks unique image ids and that every
// annotation refers to an image.
inline CocoCaptions coco_from_json(const nlohmann::json& j, const std::string& file) {
  CocoCaptions c;
  const auto& images = member(j, "images", "array", file, "top level");
  const auto& anns = member(j, "annotations", "array", file, "top level");
  std::set<int64_t> ids;
  for (size_t i = 0; i < images.size(); ++i) {
    std::string where = detail::at("images", i);
    CocoImage im;
    im.id = detail::get_int(images[i], "id", file, where);
    im.file_name = detail::get_str(images[i], "file_name", file, where);
    if (images[i].contains("width")) im.width = detail::get_int(images[i], "width", file, where);
    if (images[i].contains("height")) im.height = detail::get_int(images[i], "height", file, where);
    check(im.width >= 0 && im.height >= 0, file, ": ", where, ": expected width, height >= 0, found ", im.width,
          " x ", im.height);
    check(ids.insert(im.id).second, file, ": ", where, ".id: image id ", im.id, " appears more than once");
    c.images.push_back(std::move(im));
  }
  for (size_t i = 0; i < anns.size(); ++i) {
    std::string where = detail::at("annotations", i);
    CocoAnnotation a;
    a.id = detail::get_int(anns[i], "id", file, where);
    a.image_id = detail::get_int(anns[i], "image_id", file, where);
    a.caption = detail::get_str(anns[i], "caption", file, where);
    check(ids.count(a.image_id) != 0, file, ": ", where, ".image_id: ", a.image_id, " is not the id of any image");
    c.annotations.push_back(std::move(a));
  }
  return c;
}

// The JSON document of a COCO captions file.
inline nlohmann::json coco_to_json(const CocoCaptions& c) {
  nlohmann::json images = nlohmann::json::array(), anns = nlohmann::json::array();
  for (const auto& im : c.images)
    images.push_back({{"id", im.id}, {"file_name", im.file_name}, {"width", im.width}, {"height", im.height}});
  for (const auto& a : c.annotations) anns.push_back({{"id", a.id}, {"image_id", a.image_id}, {"caption", a.caption}});
  return {{"info", {{"description", "written by unigen"}}}, {"images", images}, {"annotations", anns}};
}

// Reads a COCO captions file.
inline CocoCaptions read_coco(const std::string& path) { return coco_from_json(read_json(path), path); }

// Writes a COCO captions file (atomically).
inline void write_coco(const std::string& path, const CocoCaptions& c) { write_json(path, coco_to_json(c)); }

// sentences[k] of a split-file image: the raw caption and its tokens.
struct SplitSentence {
  std::string raw;
  std::vector<std::string> tokens;
};

// images[i] of a Karpathy-style split file; split is "train", "val", "test" or "restval".
struct SplitImage {
  int64_t imgid = 0;
  int64_t cocoid = -1;
  std::string filepath, filename, split;
  std::vector<SplitSentence> sentences;
};

// {"dataset": ..., "images": [{imgid, filename, split, sentences: [{raw, tokens}], filepath?, cocoid?}]}.
struct SplitFile {
  std::string dataset;
  std::vector<SplitImage> images;

  // The images of one split ("train" also takes "restval", as the Karpathy split is used).
  std::vector<const SplitImage*> of_split(const std::string& split) const {
    std::vector<const SplitImage*> out;
    for (const auto& im : images)
      if (im.split == split || (split == "train" && im.split == "restval")) out.push_back(&im);
    return out;
  }
};

// Parses a split document; tokens missing from a sentence are made from raw with text::tokenize.
inline SplitFile split_from_json(const nlohmann::json& j, const std::string& file) {
  SplitFile s;
  const auto& images = member(j, "images", "array", file, "top level");
  if (j.contains("dataset") && j["dataset"].is_string()) s.dataset = j["dataset"].get<std::string>();
  std::set<int64_t> ids;
  for (size_t i = 0; i < images.size(); ++i) {
    std::string where = detail::at("images", i);
    SplitImage im;
    im.imgid = detail::get_int(images[i], "imgid", file, where);
    im.filename = detail::get_str(images[i], "filename", file, where);
    im.split = detail::get_str(images[i], "split", file, where);
    check(im.split == "train" || im.split == "val" || im.split == "test" || im.split == "restval", file, ": ", where,
          ".split: expected \"train\", \"val\", \"test\" or \"restval\", found \"", im.split, "\"");
    if (images[i].contains("filepath")) im.filepath = detail::get_str(images[i], "filepath", file, where);
    if (images[i].contains("cocoid")) im.cocoid = detail::get_int(images[i], "cocoid", file, where);
    check(ids.insert(im.imgid).second, file, ": ", where, ".imgid: ", im.imgid, " appears more than once");
    const auto& sents = member(images[i], "sentences", "array", file, where);
    for (size_t k = 0; k < sents.size(); ++k) {
      std::string w = where + "." + detail::at("sentences", k);
      SplitSentence st;
      st.raw = detail::get_str(sents[k], "raw", file, w);
      if (sents[k].contains("tokens")) {
        const auto& toks = member(sents[k], "tokens", "array", file, w);
        for (size_t t = 0; t < toks.size(); ++t) {
          check(toks[t].is_string(), file, ": ", w, ".tokens[", t, "]: expected string, found ", toks[t].type_name());
          st.tokens.push_back(toks[t].get<std::string>());
        }
      } else {
        st.tokens = text::tokenize(st.raw);
      }
      im.sentences.push_back(std::move(st));
    }
    s.images.push_back(std::move(im));
  }
  return s;
}

// The JSON document of a split file (with sentids / per-sentence imgid as the Karpathy files have them).
inline nlohmann::json split_to_json(const SplitFile& s) {
  nlohmann::json images = nlohmann::json::array();
  int64_t sentid = 0;
  for (const auto& im : s.images) {
    nlohmann::json sents = nlohmann::json::array(), sentids = nlohmann::json::array();
    for (const auto& st : im.sentences) {
      sents.push_back({{"raw", st.raw}, {"tokens", st.tokens}, {"imgid", im.imgid}, {"sentid", sentid}});
      sentids.push_back(sentid++);
    }
    nlohmann::json o = {{"imgid", im.imgid}, {"filepath", im.filepath}, {"filename", im.filename},
                        {"split", im.split}, {"sentids", sentids}, {"sentences", sents}};
    if (im.cocoid >= 0) o["cocoid"] = im.cocoid;
    images.push_back(std::move(o));
  }
  return {{"dataset", s.dataset}, {"images", images}};
}

// Reads a Karpathy-style split file.
inline SplitFile read_split(const std::string& path) { return split_from_json(read_json(path), path); }

// Writes a split file (atomically).
inline void write_split(const std::string& path, const SplitFile& s) { write_json(path, split_to_json(s)); }

// One entry of a COCO caption results file: [{"image_id": 1, "caption": "..."}].
struct CocoResult {
  int64_t image_id = 0;
  std::string caption;
};

// Parses a results document (an array); Error when an image id appears twice.
inline std::vector<CocoResult> results_from_json(const nlohmann::json& j, const std::string& file) {
  check(j.is_array(), file, ": top level: expected an array of {image_id, caption}, found ", j.type_name());
  std::vector<CocoResult> out;
  std::set<int64_t> seen;
  for (size_t i = 0; i < j.size(); ++i) {
    std::string where = detail::at("", i);
    CocoResult r;
    r.image_id = detail::get_int(j[i], "image_id", file, where);
    r.caption = detail::get_str(j[i], "caption", file, where);
    check(seen.insert(r.image_id).second, file, ": ", where, ".image_id: ", r.image_id,
          " has more than one caption (one per image expected)");
    out.push_back(std::move(r));
  }
  return out;
}

// Reads a COCO caption results file.
inline std::vector<CocoResult> read_results(const std::string& path) { return results_from_json(read_json(path), path); }

// Writes a COCO caption results file (atomically).
inline void write_results(const std::string& path, const std::vector<CocoResult>& rs) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : rs) j.push_back({{"image_id", r.image_id}, {"caption", r.caption}});
  write_json(path, j);
}

}  // namespace unigen::data
