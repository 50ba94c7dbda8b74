#pragma once
// Writes a captioned image dataset in the one format unigen reads: OUT/images/*, OUT/captions.json (COCO,
// every image), OUT/captions_{train,val,test}.json (COCO, one split each) and OUT/split.json (Karpathy-style).
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "unigen/core/error.hpp"
#include "unigen/data/coco.hpp"
#include "unigen/text/normalize.hpp"

namespace unigen::data {

// One image of a dataset being written: file_name is relative to OUT/images.
struct DatasetEntry {
  int64_t id = 0;
  std::string file_name;
  int64_t width = 0, height = 0;
  std::string split;  // "train", "val" or "test"
  std::vector<std::string> captions;
};

// What write_dataset wrote: images and captions per split.
struct DatasetCounts {
  int64_t images = 0, captions = 0;
  std::map<std::string, int64_t> images_per_split, captions_per_split;
};

// Writes the COCO and split files for `entries` (the images themselves are written by the caller).
inline DatasetCounts write_dataset(const std::string& out_dir, const std::string& name,
                                   const std::vector<DatasetEntry>& entries) {
  namespace fs = std::filesystem;
  CocoCaptions all;
  std::map<std::string, CocoCaptions> per;
  SplitFile split;
  split.dataset = name;
  DatasetCounts counts;
  int64_t ann_id = 0;
  for (const auto& e : entries) {
    check(e.split == "train" || e.split == "val" || e.split == "test", "write_dataset: image ", e.id, " has split \"",
          e.split, "\"");
    CocoImage im{e.id, e.file_name, e.width, e.height};
    all.images.push_back(im);
    per[e.split].images.push_back(im);
    SplitImage si;
    si.imgid = e.id;
    si.cocoid = e.id;
    si.filepath = "images";
    si.filename = e.file_name;
    si.split = e.split;
    for (const auto& c : e.captions) {
      CocoAnnotation a{ann_id++, e.id, c};
      all.annotations.push_back(a);
      per[e.split].annotations.push_back(a);
      si.sentences.push_back({c, text::tokenize(c)});
    }
    split.images.push_back(std::move(si));
    ++counts.images;
    counts.captions += int64_t(e.captions.size());
    ++counts.images_per_split[e.split];
    counts.captions_per_split[e.split] += int64_t(e.captions.size());
  }
  fs::path out(out_dir);
  write_coco((out / "captions.json").string(), all);
  for (const char* s : {"train", "val", "test"}) write_coco((out / ("captions_" + std::string(s) + ".json")).string(), per[s]);
  write_split((out / "split.json").string(), split);
  return counts;
}

}  // namespace unigen::data
