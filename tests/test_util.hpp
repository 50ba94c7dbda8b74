#pragma once
// Helpers shared by the tests: scratch folders and the message of an expected Error.
#include <filesystem>
#include <string>

#include "unigen/core/error.hpp"

namespace unigen::testing {

// A fresh, empty folder under the system temp dir, unique to `name`.
inline std::filesystem::path temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("unigen_test_" + name);
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// The message of the Error that f throws ("no error" when none).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace unigen::testing
