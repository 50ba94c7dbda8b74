#pragma once
// Whole-file reads, atomic writes (temp file + rename, so a crash never leaves a half-written file) and
// JSON parsing with errors that name the file and the place.
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "unigen/core/error.hpp"

namespace unigen::data {

// The bytes of a file; Error naming the file when it cannot be opened or read.
inline std::vector<unsigned char> read_bytes(const std::string& path) {
  std::error_code ec;
  check(!std::filesystem::is_directory(path, ec), path, ": is a folder, not a file");
  std::ifstream f(path, std::ios::binary);
  check(bool(f), path, ": cannot open for reading (", std::strerror(errno), ")");
  f.seekg(0, std::ios::end);
  std::streamoff size = f.tellg();
  check(size >= 0, path, ": cannot determine the file size");
  f.seekg(0, std::ios::beg);
  std::vector<unsigned char> out(static_cast<size_t>(size));
  if (size > 0) f.read(reinterpret_cast<char*>(out.data()), size);
  check(bool(f), path, ": read failed after ", f.gcount(), " of ", size, " bytes");
  return out;
}

// The text of a file.
inline std::string read_text(const std::string& path) {
  std::vector<unsigned char> b = read_bytes(path);
  return std::string(b.begin(), b.end());
}

// Writes bytes to a temp file next to path then renames it over path: readers see the old or the new file only.
inline void write_atomic(const std::string& path, const void* data, size_t size) {
  namespace fs = std::filesystem;
  static std::atomic<uint64_t> counter{0};
  static const int anchor = 0;  // its address differs between processes (ASLR), so temp names do too
  fs::path p(path);
  if (p.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    check(!ec, path, ": cannot create folder ", p.parent_path().string(), " (", ec.message(), ")");
  }
  std::string tmp = path + ".tmp" + std::to_string((reinterpret_cast<uintptr_t>(&anchor) >> 12) & 0xfffff) + "." +
                    std::to_string(counter++);
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    check(bool(f), tmp, ": cannot open for writing (", std::strerror(errno), ")");
    if (size) f.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      fail(tmp, ": write failed (", std::strerror(errno), ")");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    fail(path, ": cannot rename ", tmp, " into place (", ec.message(), ")");
  }
}

// Writes text atomically (see write_atomic).
inline void write_text_atomic(const std::string& path, const std::string& text) {
  write_atomic(path, text.data(), text.size());
}

// Parses JSON text; Error "<what>: invalid JSON at byte N: ..." when malformed (what = file name).
inline nlohmann::json parse_json(const std::string& text, const std::string& what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail(what, ": invalid JSON at byte ", e.byte, ": ", e.what());
  } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for a double
    fail(what, ": invalid JSON: ", e.what());
  }
}

// Reads and parses a JSON file (Error naming the file when unreadable or malformed).
inline nlohmann::json read_json(const std::string& path) { return parse_json(read_text(path), path); }

// Writes JSON atomically; indent < 0 writes it on one line.
inline void write_json(const std::string& path, const nlohmann::json& j, int indent = -1) {
  write_text_atomic(path, j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

// Typed access to a JSON object's member, with an Error naming file, place and expectation when it is wrong.
// where: e.g. "images[3]"; kind: "string", "integer", "number", "array", "object".
inline const nlohmann::json& member(const nlohmann::json& obj, const char* key, const char* kind,
                                    const std::string& file, const std::string& where) {
  check(obj.is_object(), file, ": ", where, ": expected an object, found ", obj.type_name());
  auto it = obj.find(key);
  check(it != obj.end(), file, ": ", where, ": missing key \"", key, "\" (expected ", kind, ")");
  const nlohmann::json& v = *it;
  std::string k(kind);
  bool ok = (k == "string" && v.is_string()) || (k == "integer" && v.is_number_integer()) ||
            (k == "number" && v.is_number()) || (k == "array" && v.is_array()) || (k == "object" && v.is_object());
  check(ok, file, ": ", where, ".", key, ": expected ", kind, ", found ", v.type_name());
  return v;
}

}  // namespace unigen::data
