#pragma once
// Which SIMD instruction sets the running CPU offers, asked at run time (cpuid), so one binary picks
// the best kernels on every x86-64 CPU whatever flags it was compiled with.

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

}  // namespace unigen::cpu
