#pragma once
// Which SIMD instruction sets the running CPU offers, asked at run time (cpuid), so one binary picks
// the best kernels on every x86-64 CPU whatever flags it was compiled with; which family is in use
// (for the GEMM and vec_math's dispatched row kernels); and the pragmas that compile a region of code
// for one instruction set.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "unigen/core/error.hpp"

// UNIGEN_TARGET_PUSH("avx2,fma") ... UNIGEN_TARGET_POP: every function defined between them, member
// templates and lambdas included, is compiled for that instruction set (a template cannot take its
// target attribute from a parameter).
#define UNIGEN_PRAGMA(x) _Pragma(#x)
#if defined(__clang__)
#define UNIGEN_TARGET_PUSH(t) UNIGEN_PRAGMA(clang attribute push(__attribute__((target(t))), apply_to = function))
#define UNIGEN_TARGET_POP UNIGEN_PRAGMA(clang attribute pop)
#else
#define UNIGEN_TARGET_PUSH(t) UNIGEN_PRAGMA(GCC push_options) UNIGEN_PRAGMA(GCC target(t))
#define UNIGEN_TARGET_POP UNIGEN_PRAGMA(GCC pop_options)
#endif

namespace unigen::cpu {

// The kernel families, from slowest to fastest; each needs the ones before it.
enum class Isa : int { generic = 0, avx2 = 1, avx512 = 2 };

inline const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "generic";
  }
}

// "generic" | "avx2" | "avx512" -> true and `out`; anything else -> false.
inline bool parse_isa(const char* s, Isa& out) {
  if (!s) return false;
  const char* names[] = {"generic", "avx2", "avx512"};
  for (int i = 0; i < 3; ++i) {
    const char *a = s, *b = names[i];
    while (*a && *a == *b) ++a, ++b;
    if (*a == 0 && *b == 0) {
      out = Isa(i);
      return true;
    }
  }
  return false;
}

// The best family this CPU (and OS: __builtin_cpu_supports checks the saved-register state) can run.
inline Isa best_isa() {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::generic;
}

namespace isa_detail {
inline Isa clamp_isa(Isa want) { return int(want) <= int(best_isa()) ? want : best_isa(); }
// The family in use, as an Isa value; first set from UNIGEN_CPU_KERNEL (if set) or the CPU's best. The first
// tensor reads it (core/tensor.hpp), so that a bad value throws outside any OpenMP region.
inline std::atomic<int>& kernel_slot() {
  static std::atomic<int> slot{[] {
    Isa isa = best_isa();
    if (const char* env = std::getenv("UNIGEN_CPU_KERNEL"); env && *env) {
      check(parse_isa(env, isa), "UNIGEN_CPU_KERNEL=", env, ": expected generic, avx2 or avx512");
      isa = clamp_isa(isa);
    }
    return int(isa);
  }()};
  return slot;
}
}  // namespace isa_detail

// The kernel family in use (the CPU's best, or UNIGEN_CPU_KERNEL's choice): the GEMM's micro-kernels,
// and the vector kind of vec_math's dispatched row kernels where the build's flags stop short of it.
inline Isa cpu_kernel() { return Isa(isa_detail::kernel_slot().load(std::memory_order_relaxed)); }
inline const char* cpu_kernel_name() { return isa_name(cpu_kernel()); }

// For tests and benchmarks: use the named family from now on ("generic", "avx2", "avx512"; one the CPU
// lacks falls back to the best it has; nullptr or "auto" returns to the CPU's best). Not for use while
// another thread is inside a kernel.
inline void set_cpu_kernel(const char* name) {
  Isa isa = best_isa();
  if (name && std::strcmp(name, "auto") != 0)
    check(parse_isa(name, isa), "set_cpu_kernel: unknown kernel '", name, "': expected generic, avx2 or avx512");
  isa_detail::kernel_slot().store(int(isa_detail::clamp_isa(isa)));
}

}  // namespace unigen::cpu
