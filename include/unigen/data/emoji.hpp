#pragma once
// Emoji -> captioned dataset, from two npm packages that scripts/fetch-data.sh unpacks:
//   emoji-datasource-google@16.0.0: img/google/64/*.png and emoji.json (Unicode names, skin-tone variants)
//   openmoji@17.0.0: data/openmoji.json (CLDR annotation per code point sequence)
// Every Google image is kept, skin-tone variants included; its references are the Unicode name and the CLDR
// annotation, normalised and de-duplicated; the split is by base emoji (all variants of one emoji in one split).
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <stb_image.h>

#include "unigen/core/error.hpp"
#include "unigen/data/coco.hpp"
#include "unigen/data/dataset.hpp"
#include "unigen/data/file.hpp"
#include "unigen/text/normalize.hpp"

namespace unigen::data {

// Counts reported by prepare_emoji, besides the dataset counts.
struct EmojiCounts {
  DatasetCounts dataset;
  int64_t base_emoji = 0, variants = 0, missing_images = 0, without_annotation = 0;
  std::map<std::string, int64_t> base_per_split;
};

namespace detail {

// "1F44B-FE0F-1F3FB" / "1f44b-1f3fb" -> "1F44B-1F3FB": upper case, variation selector FE0F dropped.
inline std::string emoji_key(std::string code) {
  for (char& c : code) c = char(std::toupper(static_cast<unsigned char>(c)));
  std::string out;
  size_t i = 0;
  while (i <= code.size()) {
    size_t j = code.find('-', i);
    if (j == std::string::npos) j = code.size();
    std::string part = code.substr(i, j - i);
    if (!part.empty() && part != "FE0F") {
      if (!out.empty()) out += '-';
      out += part;
    }
    i = j + 1;
  }
  return out;
}

// Skin-tone modifier code point -> its CLDR name.
inline std::string skin_tone_name(const std::string& cp) {
  static const std::map<std::string, std::string> names = {{"1F3FB", "light skin tone"},
                                                           {"1F3FC", "medium-light skin tone"},
                                                           {"1F3FD", "medium skin tone"},
                                                           {"1F3FE", "medium-dark skin tone"},
                                                           {"1F3FF", "dark skin tone"}};
  auto it = names.find(emoji_key(cp));
  return it == names.end() ? std::string() : it->second;
}

// The name of a skin-tone variant: the base name, then its tones ("1F3FB-1F3FC" -> two, repeated ones once).
inline std::string variant_name(const std::string& base, const std::string& tones) {
  std::vector<std::string> names;
  size_t i = 0;
  while (i <= tones.size()) {
    size_t j = tones.find('-', i);
    if (j == std::string::npos) j = tones.size();
    std::string n = skin_tone_name(tones.substr(i, j - i));
    if (!n.empty() && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    i = j + 1;
  }
  std::string out = base;
  for (size_t k = 0; k < names.size(); ++k) {
    out += k ? ", " : ": ";
    out += names[k];
  }
  return out;
}

// Normalised references, empty ones dropped, duplicates removed (first kept).
inline std::vector<std::string> unique_refs(const std::vector<std::string>& raw) {
  std::vector<std::string> out;
  for (const auto& r : raw) {
    std::string n = text::normalize(r);
    if (!n.empty() && std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  return out;
}

// Deterministic Fisher-Yates shuffle with mt19937_64 (std::shuffle's sequence differs between libraries).
template <class T>
void shuffle_fixed(std::vector<T>& v, uint64_t seed) {
  std::mt19937_64 g(seed);
  for (size_t i = v.size(); i > 1; --i) {
    size_t j = size_t(g() % i);
    std::swap(v[i - 1], v[j]);
  }
}

}  // namespace detail

// Split of `n` groups: 90 / 5 / 5 after a fixed-seed shuffle; returns "train", "val" or "test" per group.
inline std::vector<std::string> split_groups(size_t n, uint64_t seed) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  detail::shuffle_fixed(order, seed);
  size_t n_val = n * 5 / 100, n_test = n * 5 / 100;
  std::vector<std::string> split(n);
  for (size_t k = 0; k < n; ++k)
    split[order[k]] = k < n_val ? "val" : (k < n_val + n_test ? "test" : "train");
  return split;
}

// Builds the emoji dataset: google_dir = unpacked emoji-datasource-google, openmoji_dir = unpacked openmoji.
// Images are copied to OUT/images; references are [Unicode name, CLDR annotation] normalised and de-duplicated.
inline EmojiCounts prepare_emoji(const std::string& google_dir, const std::string& openmoji_dir,
                                 const std::string& out_dir, uint64_t seed = 20240611) {
  namespace fs = std::filesystem;
  const std::string emoji_json = (fs::path(google_dir) / "emoji.json").string();
  const std::string openmoji_json = (fs::path(openmoji_dir) / "data" / "openmoji.json").string();
  const fs::path img_dir = fs::path(google_dir) / "img" / "google" / "64";

  nlohmann::json om = read_json(openmoji_json);
  check(om.is_array(), openmoji_json, ": top level: expected an array, found ", om.type_name());
  std::map<std::string, std::string> annotation;
  for (size_t i = 0; i < om.size(); ++i) {
    std::string where = detail::at("", i);
    std::string hex = member(om[i], "hexcode", "string", openmoji_json, where).get<std::string>();
    std::string ann = member(om[i], "annotation", "string", openmoji_json, where).get<std::string>();
    annotation.emplace(detail::emoji_key(hex), ann);
  }

  nlohmann::json ej = read_json(emoji_json);
  check(ej.is_array(), emoji_json, ": top level: expected an array, found ", ej.type_name());
  struct Item {
    size_t group;
    std::string image, unified, name;
  };
  std::vector<Item> items;
  EmojiCounts counts;
  for (size_t i = 0; i < ej.size(); ++i) {
    std::string where = detail::at("", i);
    std::string name = member(ej[i], "name", "string", emoji_json, where).get<std::string>();
    std::string image = member(ej[i], "image", "string", emoji_json, where).get<std::string>();
    std::string unified = member(ej[i], "unified", "string", emoji_json, where).get<std::string>();
    size_t group = size_t(counts.base_emoji++);
    items.push_back({group, image, unified, name});
    if (!ej[i].contains("skin_variations")) continue;
    const auto& sv = member(ej[i], "skin_variations", "object", emoji_json, where);
    for (auto it = sv.begin(); it != sv.end(); ++it) {
      std::string w = where;
      w += ".skin_variations.";
      w += it.key();
      std::string vimage = member(it.value(), "image", "string", emoji_json, w).get<std::string>();
      std::string vunified = member(it.value(), "unified", "string", emoji_json, w).get<std::string>();
      items.push_back({group, vimage, vunified, detail::variant_name(name, it.key())});
      ++counts.variants;
    }
  }
  check(!items.empty(), emoji_json, ": no emoji found");

  std::vector<std::string> group_split = split_groups(size_t(counts.base_emoji), seed);
  std::vector<bool> group_used(size_t(counts.base_emoji), false);
  std::vector<DatasetEntry> entries;
  int64_t id = 0;
  for (const auto& it : items) {
    fs::path src = img_dir / it.image;
    if (!fs::exists(src)) {
      ++counts.missing_images;
      continue;
    }
    std::vector<unsigned char> bytes = read_bytes(src.string());
    int w = 0, h = 0, comp = 0;
    check(bytes.size() < size_t(INT32_MAX) &&
              stbi_info_from_memory(bytes.data(), int(bytes.size()), &w, &h, &comp) == 1,
          src.string(), ": not a readable image");
    std::vector<std::string> raw = {it.name};
    auto a = annotation.find(detail::emoji_key(it.unified));
    if (a != annotation.end()) raw.push_back(a->second);
    else ++counts.without_annotation;
    std::vector<std::string> refs = detail::unique_refs(raw);
    check(!refs.empty(), src.string(), ": emoji ", it.unified, " has no usable name");
    write_atomic((fs::path(out_dir) / "images" / it.image).string(), bytes.data(), bytes.size());
    entries.push_back({id++, it.image, w, h, group_split[it.group], refs});
    if (!group_used[it.group]) {
      group_used[it.group] = true;
      ++counts.base_per_split[group_split[it.group]];
    }
  }
  counts.dataset = write_dataset(out_dir, "emoji", entries);
  return counts;
}

}  // namespace unigen::data
