#pragma once
// Helpers shared by the tests: scratch folders, the message of an expected Error, and the CPU kernel
// families to run a test under.
#include <filesystem>
#include <string>
#include <vector>

#include "unigen/backend/cpu/cpu_features.hpp"
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

// The CPU kernel families this CPU can run (cpu::set_cpu_kernel's names), slowest first.
inline std::vector<std::string> cpu_kernels() {
  std::vector<std::string> ks = {"generic"};
  if (int(cpu::best_isa()) >= int(cpu::Isa::avx2)) ks.push_back("avx2");
  if (int(cpu::best_isa()) >= int(cpu::Isa::avx512)) ks.push_back("avx512");
  return ks;
}

// Selects a kernel family for its lifetime, then returns to the CPU's best.
struct KernelGuard {
  explicit KernelGuard(const std::string& k) { cpu::set_cpu_kernel(k.c_str()); }
  ~KernelGuard() { cpu::set_cpu_kernel(nullptr); }
};

}  // namespace unigen::testing
