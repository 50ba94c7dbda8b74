#pragma once
// IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed (own inflate, no zlib dependency): magic 0 0 <type> <ndim>, ndim
// big-endian uint32 sizes, then the elements. Only unsigned-byte data (type 0x08) is read.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "unigen/core/error.hpp"
#include "unigen/data/file.hpp"

namespace unigen::data {

// An unsigned-byte n-d array, row-major.
struct IdxArray {
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

// CRC-32 (IEEE, as gzip uses it) of a byte range.
inline uint32_t crc32(const unsigned char* p, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// Whether bytes start with the gzip magic.
inline bool is_gzip(const unsigned char* p, size_t n) { return n >= 2 && p[0] == 0x1F && p[1] == 0x8B; }

namespace detail {

// LSB-first bit reader over a byte range; running past the end is an Error naming `what`.
struct BitReader {
  const unsigned char* p;
  size_t n, pos = 0;
  uint32_t buf = 0;
  int count = 0;
  const std::string& what;

  int bits(int need) {
    while (count < need) {
      check(pos < n, what, ": deflate data is truncated");
      buf |= uint32_t(p[pos++]) << count;
      count += 8;
    }
    int v = int(buf & ((1u << need) - 1u));
    buf >>= need;
    count -= need;
    return v;
  }
};

// A canonical Huffman code: how many codes of each length 0..15, and the symbols ordered by code.
struct Huffman {
  std::array<uint16_t, 16> count{};
  std::vector<uint16_t> symbol;
};

// Builds the code from per-symbol code lengths; Error when over-subscribed (incomplete codes are allowed, as
// zlib allows them; a missing code is then an error only if the data uses it).
inline Huffman build_huffman(const uint8_t* lengths, int n, const std::string& what) {
  Huffman h;
  for (int i = 0; i < n; ++i) ++h.count[lengths[i]];
  int left = 1;
  for (int len = 1; len < 16; ++len) {
    left = left * 2 - h.count[size_t(len)];
    check(left >= 0, what, ": deflate data has an over-subscribed Huffman code");
  }
  std::array<uint16_t, 16> offs{};
  for (int len = 1; len < 15; ++len) offs[size_t(len + 1)] = uint16_t(offs[size_t(len)] + h.count[size_t(len)]);
  h.symbol.assign(size_t(n), 0);
  for (int i = 0; i < n; ++i)
    if (lengths[i]) h.symbol[offs[lengths[i]]++] = uint16_t(i);
  return h;
}

// Reads one symbol (codes are stored most significant bit first).
inline int decode_symbol(BitReader& br, const Huffman& h) {
  int code = 0, first = 0, index = 0;
  for (int len = 1; len < 16; ++len) {
    code |= br.bits(1);
    int c = h.count[size_t(len)];
    if (code - c < first) return h.symbol[size_t(index + (code - first))];
    index += c;
    first = (first + c) << 1;
    code <<= 1;
  }
  fail(br.what, ": deflate data uses a Huffman code that does not exist");
}

// Inflates a raw deflate stream (RFC 1951); sets `used` to the bytes consumed. Output is capped at max_out.
inline std::vector<unsigned char> inflate(const unsigned char* p, size_t n, const std::string& what, size_t& used,
                                          size_t max_out) {
  static const uint16_t lbase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                     31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
  static const uint8_t lext[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
  static const uint16_t dbase[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,    65,    97,    129,
                                     193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
  static const uint8_t dext[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
  BitReader br{p, n, 0, 0, 0, what};
  std::vector<unsigned char> out;
  int last = 0;
  do {
    last = br.bits(1);
    int type = br.bits(2);
    if (type == 0) {  // stored: byte-align, LEN, NLEN, LEN bytes
      br.buf = 0, br.count = 0;
      check(br.pos + 4 <= n, what, ": deflate stored block is truncated");
      size_t len = size_t(p[br.pos]) | (size_t(p[br.pos + 1]) << 8);
      size_t nlen = size_t(p[br.pos + 2]) | (size_t(p[br.pos + 3]) << 8);
      check(len == (~nlen & 0xFFFFu), what, ": deflate stored block length check failed");
      br.pos += 4;
      check(br.pos + len <= n, what, ": deflate stored block is truncated");
      check(out.size() + len <= max_out, what, ": inflated data exceeds ", max_out, " bytes");
      out.insert(out.end(), p + br.pos, p + br.pos + len);
      br.pos += len;
      continue;
    }
    check(type != 3, what, ": deflate block type 3 is invalid");
    Huffman lit, dist;
    if (type == 1) {
      uint8_t l[288];
      for (int i = 0; i < 288; ++i) l[i] = uint8_t(i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8);
      lit = build_huffman(l, 288, what);
      uint8_t d[30];
      for (auto& x : d) x = 5;
      dist = build_huffman(d, 30, what);
    } else {
      int nlit = br.bits(5) + 257, ndist = br.bits(5) + 1, ncode = br.bits(4) + 4;
      check(nlit <= 286 && ndist <= 30, what, ": deflate header has too many codes");
      static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
      uint8_t cl[19] = {};
      for (int i = 0; i < ncode; ++i) cl[order[i]] = uint8_t(br.bits(3));
      Huffman lencode = build_huffman(cl, 19, what);
      uint8_t lengths[316] = {};
      int idx = 0;
      while (idx < nlit + ndist) {
        int sym = decode_symbol(br, lencode);
        if (sym < 16) {
          lengths[idx++] = uint8_t(sym);
          continue;
        }
        int rep = 0;
        uint8_t val = 0;
        if (sym == 16) {
          check(idx > 0, what, ": deflate length repeat with no previous length");
          val = lengths[idx - 1];
          rep = 3 + br.bits(2);
        } else if (sym == 17) {
          rep = 3 + br.bits(3);
        } else {
          rep = 11 + br.bits(7);
        }
        check(idx + rep <= nlit + ndist, what, ": deflate code lengths overflow the table");
        while (rep--) lengths[idx++] = val;
      }
      check(lengths[256] != 0, what, ": deflate block has no end-of-block code");
      lit = build_huffman(lengths, nlit, what);
      dist = build_huffman(lengths + nlit, ndist, what);
    }
    for (;;) {
      int sym = decode_symbol(br, lit);
      if (sym < 256) {
        check(out.size() < max_out, what, ": inflated data exceeds ", max_out, " bytes");
        out.push_back(uint8_t(sym));
        continue;
      }
      if (sym == 256) break;
      sym -= 257;
      check(sym < 29, what, ": deflate length symbol ", sym + 257, " is invalid");
      size_t len = size_t(lbase[sym]) + size_t(br.bits(lext[sym]));
      int ds = decode_symbol(br, dist);
      check(ds < 30, what, ": deflate distance symbol ", ds, " is invalid");
      size_t d = size_t(dbase[ds]) + size_t(br.bits(dext[ds]));
      check(d <= out.size(), what, ": deflate distance ", d, " reaches before the start of the data");
      check(out.size() + len <= max_out, what, ": inflated data exceeds ", max_out, " bytes");
      size_t from = out.size() - d;
      for (size_t k = 0; k < len; ++k) out.push_back(out[from + k]);
    }
  } while (!last);
  used = br.pos;
  return out;
}

}  // namespace detail

// Decompresses a gzip member (RFC 1952); checks the CRC and length trailer. Output is capped at max_out bytes.
inline std::vector<unsigned char> gunzip(const unsigned char* p, size_t n, const std::string& what,
                                         size_t max_out = size_t(1) << 32) {
  check(n >= 18 && is_gzip(p, n), what, ": not a gzip file (", n, " bytes)");
  check(p[2] == 8, what, ": gzip compression method ", int(p[2]), " is not deflate");
  const unsigned flags = p[3];
  check((flags & 0xE0) == 0, what, ": gzip header has reserved flags set");
  size_t pos = 10;
  auto need = [&](size_t k) { check(pos + k <= n, what, ": gzip header is truncated at byte ", pos); };
  if (flags & 0x04) {  // FEXTRA
    need(2);
    size_t xlen = size_t(p[pos]) | (size_t(p[pos + 1]) << 8);
    pos += 2;
    need(xlen);
    pos += xlen;
  }
  for (unsigned bit : {0x08u, 0x10u}) {  // FNAME, FCOMMENT: zero-terminated
    if (!(flags & bit)) continue;
    while (pos < n && p[pos] != 0) ++pos;
    need(1);
    ++pos;
  }
  if (flags & 0x02) {  // FHCRC
    need(2);
    pos += 2;
  }
  size_t used = 0;
  std::vector<unsigned char> result = detail::inflate(p + pos, n - pos, what, used, max_out);
  pos += used;
  check(pos + 8 <= n, what, ": gzip file is truncated (no CRC and length trailer)");
  const unsigned char* t = p + pos;
  uint32_t crc = uint32_t(t[0]) | (uint32_t(t[1]) << 8) | (uint32_t(t[2]) << 16) | (uint32_t(t[3]) << 24);
  uint32_t isize = uint32_t(t[4]) | (uint32_t(t[5]) << 8) | (uint32_t(t[6]) << 16) | (uint32_t(t[7]) << 24);
  check(isize == uint32_t(result.size()), what, ": gzip length check failed (trailer says ", isize, " bytes, got ",
        result.size(), "): the file is corrupt");
  check(crc == crc32(result.data(), result.size()), what, ": gzip CRC check failed: the file is corrupt");
  return result;
}

// Parses IDX bytes (already decompressed). `what` names the input in errors.
inline IdxArray parse_idx(const unsigned char* p, size_t n, const std::string& what) {
  check(n >= 4, what, ": IDX file too short (", n, " bytes, a header needs at least 4)");
  check(p[0] == 0 && p[1] == 0, what, ": not an IDX file (magic bytes ", int(p[0]), " ", int(p[1]), ", expected 0 0)");
  check(p[2] == 0x08, what, ": IDX element type ", int(p[2]), " is not supported (only unsigned byte, type 8)");
  const int ndim = p[3];
  check(ndim >= 1, what, ": IDX file has 0 dimensions");
  check(n >= 4 + 4 * size_t(ndim), what, ": IDX header truncated (", ndim, " dimensions need ", 4 + 4 * ndim,
        " bytes, file has ", n, ")");
  IdxArray a;
  uint64_t total = 1;
  for (int d = 0; d < ndim; ++d) {
    const unsigned char* q = p + 4 + 4 * d;
    uint64_t s = (uint64_t(q[0]) << 24) | (uint64_t(q[1]) << 16) | (uint64_t(q[2]) << 8) | uint64_t(q[3]);
    a.shape.push_back(int64_t(s));
    total *= s;
    check(total <= (uint64_t(1) << 40), what, ": IDX sizes are implausibly large");
  }
  size_t header = 4 + 4 * size_t(ndim);
  check(n - header == total, what, ": IDX data has ", n - header, " bytes, the header's shape ", a.shape,
        " needs ", total);
  a.data.assign(p + header, p + n);
  return a;
}

// Reads an IDX file, gunzipping it first when it is gzip-compressed (e.g. train-images-idx3-ubyte.gz).
inline IdxArray read_idx(const std::string& path) {
  std::vector<unsigned char> b = read_bytes(path);
  if (is_gzip(b.data(), b.size())) b = gunzip(b.data(), b.size(), path);
  return parse_idx(b.data(), b.size(), path);
}

}  // namespace unigen::data
