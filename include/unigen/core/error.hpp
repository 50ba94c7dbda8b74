#pragma once
// unigen::Error: the one exception type the library throws, and the checks that raise it.
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace unigen {

// Every failure the library reports (bad shape, dtype, file, argument) is an Error whose message names
// the op or file and the offending values.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "[2, 3, 4]"
inline std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

namespace detail {
inline void append(std::ostringstream&) {}
template <class A, class... R>
void append(std::ostringstream& os, const A& a, const R&... r) {
  if constexpr (std::is_same_v<A, std::vector<int64_t>>) os << shape_str(a);
  else os << a;
  append(os, r...);
}
}  // namespace detail

// Builds a message from its parts (shapes print as [a, b]) and throws Error.
template <class... A>
[[noreturn]] void fail(const A&... parts) {
  std::ostringstream os;
  detail::append(os, parts...);
  throw Error(os.str());
}

// check(cond, "matmul: ", a.shape(), " vs ", b.shape()) throws Error with that message when cond is false.
template <class... A>
inline void check(bool cond, const A&... parts) {
  if (!cond) fail(parts...);
}

}  // namespace unigen
