#pragma once
// Fashion-MNIST -> captioned dataset: reads the IDX files (Debian's dataset-fashion-mnist installs them
// gzip-compressed in /usr/share/datasets/fashion-mnist), keeps the official train/test split, and captions
// each image from its class in several templates ("a photo of a sneaker", "an ankle boot", ...).
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "unigen/core/error.hpp"
#include "unigen/data/dataset.hpp"
#include "unigen/data/file.hpp"
#include "unigen/data/idx.hpp"
#include "unigen/data/image.hpp"

namespace unigen::data {

// Where Debian's dataset-fashion-mnist puts the files.
inline const char* fashion_mnist_default_dir = "/usr/share/datasets/fashion-mnist";

// The class noun phrases, indexed by label, with the article each takes.
inline const std::array<const char*, 10>& fashion_mnist_classes() {
  static const std::array<const char*, 10> c = {"t-shirt", "pair of trousers", "pullover", "dress", "coat",
                                                "sandal",  "shirt",            "sneaker",  "bag",   "ankle boot"};
  return c;
}

// The captions of one class: five templates around "a/an <class>".
inline std::vector<std::string> fashion_mnist_captions(int label) {
  check(label >= 0 && label < 10, "fashion_mnist_captions: label ", label, " out of range [0, 10)");
  std::string noun = fashion_mnist_classes()[size_t(label)];
  std::string np = (noun[0] == 'a' || noun[0] == 'e' || noun[0] == 'i' || noun[0] == 'o' || noun[0] == 'u' ? "an "
                                                                                                           : "a ") +
                   noun;
  return {np, "a photo of " + np, "a picture of " + np, "a black and white photo of " + np,
          "a small grayscale image of " + np};
}

// One split's images [N, 28, 28] and labels [N] from dir/<prefix>-images-idx3-ubyte(.gz), -labels-idx1-ubyte(.gz).
struct FashionMnistSplit {
  IdxArray images, labels;
};

// Reads and checks one split (prefix "train" or "t10k").
inline FashionMnistSplit read_fashion_mnist(const std::string& dir, const std::string& prefix) {
  namespace fs = std::filesystem;
  auto find = [&](const std::string& stem) {
    fs::path p = fs::path(dir) / stem;
    if (fs::exists(p)) return p.string();
    fs::path gz = fs::path(dir) / (stem + ".gz");
    check(fs::exists(gz), dir, ": neither ", stem, " nor ", stem, ".gz found (install dataset-fashion-mnist)");
    return gz.string();
  };
  std::string ip = find(prefix + "-images-idx3-ubyte"), lp = find(prefix + "-labels-idx1-ubyte");
  FashionMnistSplit s{read_idx(ip), read_idx(lp)};
  check(s.images.shape.size() == 3, ip, ": expected images [N, H, W], found shape ", s.images.shape);
  check(s.labels.shape.size() == 1, lp, ": expected labels [N], found shape ", s.labels.shape);
  check(s.images.shape[0] == s.labels.shape[0], ip, ": ", s.images.shape[0], " images but ", lp, " has ",
        s.labels.shape[0], " labels");
  check(s.images.shape[1] > 0 && s.images.shape[2] > 0, ip, ": empty images ", s.images.shape);
  for (size_t i = 0; i < s.labels.data.size(); ++i)
    check(s.labels.data[i] < 10, lp, ": label ", int(s.labels.data[i]), " at index ", i, " is not a class 0..9");
  return s;
}

// Writes OUT/images/{train,test}_NNNNN.png (grayscale) and the dataset files; ids: train i -> i, test i -> 60000 + i
// (more generally, test ids start after the last train id). limit > 0 keeps only the first `limit` of each split.
inline DatasetCounts prepare_fashion_mnist(const std::string& dir, const std::string& out_dir, int64_t limit = 0) {
  namespace fs = std::filesystem;
  std::vector<DatasetEntry> entries;
  int64_t next_id = 0;
  for (const auto& [prefix, split] : {std::pair<std::string, std::string>{"train", "train"}, {"t10k", "test"}}) {
    FashionMnistSplit s = read_fashion_mnist(dir, prefix);
    const int64_t n = limit > 0 ? std::min(limit, s.images.shape[0]) : s.images.shape[0];
    const int h = int(s.images.shape[1]), w = int(s.images.shape[2]);
    const int64_t base = next_id;
    for (int64_t i = 0; i < n; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "%s_%05lld.png", split.c_str(), static_cast<long long>(i));
      auto png = encode_png(s.images.data.data() + size_t(i) * size_t(h) * size_t(w), h, w, 1);
      write_atomic((fs::path(out_dir) / "images" / name).string(), png.data(), png.size());
      entries.push_back({base + i, name, w, h, split, fashion_mnist_captions(s.labels.data[size_t(i)])});
    }
    next_id = base + s.images.shape[0];
  }
  return write_dataset(out_dir, "fashion-mnist", entries);
}

}  // namespace unigen::data
