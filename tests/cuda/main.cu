// Catch2 main of the CUDA tests: without a CUDA device it prints SKIPPED and exits 77 (CTest SKIP_RETURN_CODE).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>

#include "unigen/backend/cuda/runtime.hpp"

int main(int argc, char** argv) {
  if (unigen::cuda::device_count() == 0) {
    std::printf("SKIPPED: no CUDA device\n");
    return 77;
  }
  const auto info = unigen::cuda::device_info(0);
  std::printf("CUDA device 0: %s (sm_%d%d, %d SMs)\n", info.name.c_str(), info.major, info.minor, info.sm_count);
  return Catch::Session().run(argc, argv);
}
