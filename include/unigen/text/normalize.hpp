#pragma once
// Caption normalisation the way the COCO caption evaluation tokenises (PTB-style, lower case, punctuation
// tokens removed), and whitespace splitting for text that is already tokenised.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace unigen::text {

// Splits on runs of ASCII whitespace, dropping empty pieces (Python's str.split()): "a  b " -> {"a", "b"}.
inline std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0, n = s.size();
  while (i < n) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f' || s[i] == '\v')) ++i;
    size_t j = i;
    while (j < n && !(s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r' || s[j] == '\f' || s[j] == '\v')) ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// Joins tokens with single spaces: {"a", "b"} -> "a b".
inline std::string join_words(const std::vector<std::string>& words) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i) out += ' ';
    out += words[i];
  }
  return out;
}

namespace detail {

// ASCII and Latin-1 capitals to lower case, typographic quotes/dashes to their ASCII forms; other UTF-8 kept.
inline std::string fold_case(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 'A' && c <= 'Z') {
      out += char(c + 32);
    } else if (c == 0xC3 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(s[i + 1]) <= 0x9E && static_cast<unsigned char>(s[i + 1]) != 0x97) {
      out += char(c);
      out += char(static_cast<unsigned char>(s[i + 1]) + 0x20);  // À..Þ -> à..þ (not ×)
      ++i;
    } else if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80) {
      unsigned char d = static_cast<unsigned char>(s[i + 2]);
      if (d == 0x98 || d == 0x99) out += '\'';          // ‘ ’
      else if (d == 0x9C || d == 0x9D) out += '"';      // “ ”
      else if (d == 0x93 || d == 0x94) out += " - ";    // – — as a separate dash
      else if (d == 0xA6) out += " ... ";               // …
      else { out += s.substr(i, 3); }
      i += 2;
    } else {
      out += char(c);
    }
  }
  return out;
}

// Characters that the PTB tokenizer always splits off as their own token.
inline bool is_split_char(char c) {
  switch (c) {
    case '"': case '(': case ')': case '[': case ']': case '{': case '}': case '?': case '!': case ';':
    case '`': case '<': case '>': case '|': case '*': case '~': case '^': case '\\':
      return true;
    default:
      return false;
  }
}

// Punctuation tokens the COCO evaluation drops after tokenising (its PUNCTUATIONS list plus lone symbols).
inline bool is_punct_token(const std::string& t) {
  if (t.empty()) return true;
  for (char c : t)
    if (!(c == '.' || c == ',' || c == ':' || c == ';' || c == '?' || c == '!' || c == '\'' || c == '`' ||
          c == '"' || c == '-' || c == '(' || c == ')' || c == '[' || c == ']' || c == '{' || c == '}' ||
          c == '<' || c == '>' || c == '|' || c == '*' || c == '~' || c == '^' || c == '\\' || c == '_' ||
          c == '/'))
      return false;
  return true;
}

// Splits one whitespace-free chunk PTB-style: edge punctuation and clitics ('s, n't, 're, ...) become tokens.
inline void split_chunk(const std::string& chunk, std::vector<std::string>& out) {
  std::string cur;
  auto flush = [&] {
    if (cur.empty()) return;
    size_t b = 0, e = cur.size();
    std::vector<std::string> tail;
    // leading and trailing '.', ',', ':', '\'', '-' are punctuation, not part of the word
    while (b < e && (cur[b] == '.' || cur[b] == ',' || cur[b] == ':' || cur[b] == '\'' || cur[b] == '-')) {
      out.emplace_back(1, cur[b]);
      ++b;
    }
    while (e > b && (cur[e - 1] == '.' || cur[e - 1] == ',' || cur[e - 1] == ':' || cur[e - 1] == '\'' ||
                     cur[e - 1] == '-')) {
      tail.emplace_back(1, cur[e - 1]);
      --e;
    }
    std::string w = cur.substr(b, e - b);
    static const char* clitics[] = {"n't", "'s", "'re", "'ve", "'ll", "'d", "'m"};
    for (const char* cl : clitics) {
      std::string c(cl);
      if (w.size() > c.size() && w.compare(w.size() - c.size(), c.size(), c) == 0) {
        out.push_back(w.substr(0, w.size() - c.size()));
        w = c;
        break;
      }
    }
    if (!w.empty()) out.push_back(w);
    for (size_t k = tail.size(); k-- > 0;) out.push_back(tail[k]);
    cur.clear();
  };
  for (char c : chunk) {
    if (is_split_char(c)) {
      flush();
      out.emplace_back(1, c);
    } else {
      cur += c;
    }
  }
  flush();
}

}  // namespace detail

// Caption -> tokens as the COCO evaluation sees them: lower case, PTB-split, punctuation tokens removed.
// "A man's T-shirt, (red)." -> {"a", "man", "'s", "t-shirt", "red"}
inline std::vector<std::string> tokenize(std::string_view caption) {
  std::vector<std::string> pieces;
  for (const std::string& chunk : split_words(detail::fold_case(caption))) detail::split_chunk(chunk, pieces);
  std::vector<std::string> out;
  for (auto& p : pieces)
    if (!detail::is_punct_token(p)) out.push_back(std::move(p));
  return out;
}

// Caption -> its normalised form: the tokens of tokenize() joined by single spaces.
inline std::string normalize(std::string_view caption) { return join_words(tokenize(caption)); }

}  // namespace unigen::text
