#pragma once
// The shared frame of the unigen-* command-line programs: usage, sub-command dispatch, one-line errors.
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "unigen/core/error.hpp"

namespace unigen::cli {

constexpr int kUnknownCommand = -1;

// No arguments or --help print usage; otherwise run(command, rest_of_args) gives the exit code, or
// kUnknownCommand to print usage and exit 2. Any exception is printed as "prog: message", exit 1.
template <class F>
int main(const char* prog, const char* usage, int argc, char** argv, F run) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
      std::cout << usage;
      return args.empty() ? 2 : 0;
    }
    int rc = run(args[0], std::vector<std::string>(args.begin() + 1, args.end()));
    if (rc != kUnknownCommand) return rc;
    std::cerr << prog << ": unknown command \"" << args[0] << "\"\n" << usage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << prog << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace unigen::cli
