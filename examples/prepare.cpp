// unigen-prepare: turns a data source into a COCO-format captioned dataset (OUT/images, OUT/captions*.json,
// OUT/split.json) and prints its counts.
//   unigen-prepare emoji --out DIR [--data CACHE] [--seed N]        (after scripts/fetch-data.sh)
//   unigen-prepare fashion-mnist --out DIR [--data DIR] [--limit N]  (Debian dataset-fashion-mnist)
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "unigen/core/error.hpp"
#include "unigen/data/emoji.hpp"
#include "unigen/data/fashion_mnist.hpp"

namespace {

const char* usage =
    "usage: unigen-prepare emoji --out DIR [--data CACHE] [--seed N]\n"
    "       unigen-prepare fashion-mnist --out DIR [--data DIR] [--limit N]\n"
    "  emoji: CACHE is where scripts/fetch-data.sh unpacked the packages ($UNIGEN_DATA_DIR, else ~/.cache/unigen)\n"
    "  fashion-mnist: DIR holds the IDX files (default /usr/share/datasets/fashion-mnist)\n";

// Parsed command line of either sub-command.
struct Args {
  std::string out, data;
  uint64_t seed = 20240611;
  int64_t limit = 0;
};

// Parses "--out DIR --data DIR --seed N --limit N".
Args parse(const std::vector<std::string>& a) {
  Args r;
  for (size_t i = 0; i < a.size(); ++i) {
    auto value = [&]() -> std::string {
      unigen::check(i + 1 < a.size(), "option ", a[i], " needs a value\n", usage);
      return a[++i];
    };
    if (a[i] == "--out") r.out = value();
    else if (a[i] == "--data") r.data = value();
    else if (a[i] == "--seed") r.seed = std::stoull(value());
    else if (a[i] == "--limit") r.limit = std::stoll(value());
    else unigen::fail("unknown argument \"", a[i], "\"\n", usage);
  }
  unigen::check(!r.out.empty(), "--out DIR is required\n", usage);
  return r;
}

// The default data cache: $UNIGEN_DATA_DIR, else ~/.cache/unigen.
std::string default_cache() {
  if (const char* d = std::getenv("UNIGEN_DATA_DIR"); d && *d) return d;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.cache/unigen";
}

// Prints the dataset counts shared by both sources.
void print_counts(const unigen::data::DatasetCounts& c) {
  std::cout << "images: " << c.images << ", captions: " << c.captions << "\n";
  for (const char* s : {"train", "val", "test"}) {
    auto im = c.images_per_split.count(s) ? c.images_per_split.at(s) : 0;
    auto cap = c.captions_per_split.count(s) ? c.captions_per_split.at(s) : 0;
    std::cout << "  " << s << ": " << im << " images, " << cap << " captions\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  return unigen::cli::main("unigen-prepare", usage, argc, argv, [](const std::string& source,
                                                                   const std::vector<std::string>& rest) {
    Args a = parse(rest);
    if (source == "emoji") {
      std::string cache = a.data.empty() ? default_cache() : a.data;
      auto c = unigen::data::prepare_emoji(cache + "/emoji-datasource-google", cache + "/openmoji", a.out, a.seed);
      std::cout << "emoji dataset in " << a.out << " (seed " << a.seed << ")\n";
      std::cout << "base emoji: " << c.base_emoji << ", skin-tone variants: " << c.variants
                << ", missing images: " << c.missing_images << ", without CLDR annotation: " << c.without_annotation
                << "\n";
      std::cout << "base emoji per split: train " << c.base_per_split["train"] << ", val " << c.base_per_split["val"]
                << ", test " << c.base_per_split["test"] << "\n";
      print_counts(c.dataset);
    } else if (source == "fashion-mnist") {
      std::string dir = a.data.empty() ? unigen::data::fashion_mnist_default_dir : a.data;
      auto c = unigen::data::prepare_fashion_mnist(dir, a.out, a.limit);
      std::cout << "fashion-mnist dataset in " << a.out << "\n";
      print_counts(c);
    } else {
      return unigen::cli::kUnknownCommand;
    }
    return 0;
  });
}
