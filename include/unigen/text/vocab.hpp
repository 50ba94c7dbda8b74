#pragma once
// Vocabulary and tokenizer: words from training captions (minimum count), special tokens, batch encode/decode
// with padding, JSON save/load.
#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "unigen/core/error.hpp"
#include "unigen/data/file.hpp"
#include "unigen/text/normalize.hpp"

namespace unigen::text {

// A padded batch of token ids: ids is [batch, length] row-major, lengths[b] counts the non-pad tokens of row b.
struct TokenBatch {
  std::vector<int64_t> ids;
  int64_t batch = 0, length = 0;
  std::vector<int64_t> lengths;
};

// Word <-> id table. Ids 0..4 are the special tokens pad, bos, eos, unk, mask; words follow by falling count.
class Vocab {
 public:
  static constexpr int64_t pad = 0, bos = 1, eos = 2, unk = 3, mask = 4;
  static constexpr int64_t num_special = 5;

  // The vocabulary of only the special tokens.
  Vocab() : words_{"<pad>", "<bos>", "<eos>", "<unk>", "<mask>"} { reindex(); }

  // Builds from raw captions (tokenised with text::tokenize); words seen fewer than min_count times map to unk.
  static Vocab build(const std::vector<std::string>& captions, int64_t min_count = 1) {
    std::map<std::string, int64_t> counts;
    for (const auto& c : captions)
      for (auto& w : tokenize(c)) ++counts[w];
    std::vector<std::pair<std::string, int64_t>> kept;
    for (auto& [w, n] : counts)
      if (n >= min_count) kept.emplace_back(w, n);
    std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    Vocab v;
    for (auto& [w, n] : kept) v.words_.push_back(w);
    v.reindex();
    return v;
  }

  // Number of ids, specials included.
  int64_t size() const { return int64_t(words_.size()); }

  // The id of a word (unk when absent).
  int64_t id(const std::string& word) const {
    auto it = index_.find(word);
    return it == index_.end() ? unk : it->second;
  }

  // Whether the word has its own id.
  bool contains(const std::string& word) const { return index_.count(word) != 0; }

  // The word of an id (Error when out of range).
  const std::string& word(int64_t id) const {
    check(id >= 0 && id < size(), "Vocab::word: id ", id, " out of range [0, ", size(), ")");
    return words_[size_t(id)];
  }

  // Caption -> ids of its tokens, optionally wrapped in bos ... eos.
  std::vector<int64_t> encode(const std::string& caption, bool add_bos_eos = true) const {
    std::vector<int64_t> out;
    if (add_bos_eos) out.push_back(bos);
    for (auto& w : tokenize(caption)) out.push_back(id(w));
    if (add_bos_eos) out.push_back(eos);
    return out;
  }

  // Ids -> text: skips pad and bos, stops at the first eos, unk prints as "<unk>".
  std::string decode(const int64_t* ids, int64_t n) const {
    std::vector<std::string> ws;
    for (int64_t i = 0; i < n; ++i) {
      int64_t t = ids[i];
      if (t == eos) break;
      if (t == pad || t == bos) continue;
      ws.push_back(word(t));
    }
    return join_words(ws);
  }
  std::string decode(const std::vector<int64_t>& ids) const { return decode(ids.data(), int64_t(ids.size())); }

  // Captions -> [B, T] ids: bos + tokens + eos, cut to max_length (eos kept last), padded with pad.
  // max_length <= 0: T is the longest row.
  TokenBatch encode_batch(const std::vector<std::string>& captions, int64_t max_length = 0,
                          bool add_bos_eos = true) const {
    std::vector<std::vector<int64_t>> rows;
    int64_t longest = 0;
    for (const auto& c : captions) {
      rows.push_back(encode(c, add_bos_eos));
      auto& r = rows.back();
      if (max_length > 0 && int64_t(r.size()) > max_length) {
        r.resize(size_t(max_length));
        if (add_bos_eos) r.back() = eos;
      }
      longest = std::max<int64_t>(longest, int64_t(r.size()));
    }
    TokenBatch b;
    b.batch = int64_t(rows.size());
    b.length = max_length > 0 ? max_length : longest;
    b.ids.assign(size_t(b.batch * b.length), pad);
    for (int64_t i = 0; i < b.batch; ++i) {
      std::copy(rows[size_t(i)].begin(), rows[size_t(i)].end(), b.ids.begin() + i * b.length);
      b.lengths.push_back(int64_t(rows[size_t(i)].size()));
    }
    return b;
  }

  // [B, T] ids -> B captions (see decode).
  std::vector<std::string> decode_batch(const std::vector<int64_t>& ids, int64_t batch, int64_t length) const {
    check(batch >= 0 && length >= 0 && int64_t(ids.size()) == batch * length, "Vocab::decode_batch: ", ids.size(),
          " ids do not form [", batch, ", ", length, "]");
    std::vector<std::string> out;
    for (int64_t i = 0; i < batch; ++i) out.push_back(decode(ids.data() + i * length, length));
    return out;
  }

  // {"format": "unigen-vocab", "specials": [...], "words": [...]} (words in id order, specials first).
  nlohmann::json to_json() const {
    return {{"format", "unigen-vocab"},
            {"specials", std::vector<std::string>(words_.begin(), words_.begin() + num_special)},
            {"words", std::vector<std::string>(words_.begin() + num_special, words_.end())}};
  }

  // Parses to_json()'s format; Error naming `what` (a file name) when it does not fit.
  static Vocab from_json(const nlohmann::json& j, const std::string& what = "vocab") {
    const auto& words = data::member(j, "words", "array", what, "top level");
    Vocab v;
    for (size_t i = 0; i < words.size(); ++i) {
      check(words[i].is_string(), what, ": words[", i, "]: expected string, found ", words[i].type_name());
      std::string w = words[i].get<std::string>();
      check(!v.contains(w), what, ": words[", i, "]: duplicate word \"", w, "\"");
      v.words_.push_back(w);
      v.index_[w] = int64_t(v.words_.size()) - 1;
    }
    return v;
  }

  // Writes the vocabulary as JSON (atomically).
  void save(const std::string& path) const { data::write_json(path, to_json(), 1); }

  // Reads a vocabulary written by save().
  static Vocab load(const std::string& path) { return from_json(data::read_json(path), path); }

 private:
  void reindex() {
    index_.clear();
    for (size_t i = 0; i < words_.size(); ++i) index_[words_[i]] = int64_t(i);
  }

  std::vector<std::string> words_;
  std::unordered_map<std::string, int64_t> index_;
};

}  // namespace unigen::text
