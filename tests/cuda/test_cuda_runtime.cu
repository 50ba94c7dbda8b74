// The CUDA runtime layer: caching allocator, copies, streams, errors as unigen::Error.
#include "cuda_test_util.hpp"

using namespace cutest;

TEST_CASE("cuda allocator reuses freed blocks and releases its cache", "[cuda][runtime]") {
  auto& a = unigen::cuda::Allocator::instance();
  a.release_cached();
  void* p = a.allocate(1000);
  a.deallocate(p);
  CHECK(a.cached_bytes() == unigen::cuda::Allocator::size_class(1000));
  void* q = a.allocate(900);  // same size class
  CHECK(q == p);
  a.deallocate(q);
  a.release_cached();
  CHECK(a.cached_bytes() == 0);
  CHECK(unigen::cuda::Allocator::size_class(3 << 20) == size_t(4) << 20);
}

TEST_CASE("cuda copies round-trip and a stream guard switches the current stream", "[cuda][runtime]") {
  std::vector<float> v = randn<float>(12345, 1);
  DeviceBuffer<float> b(v);
  CHECK(b.download() == v);
  cudaStream_t s = nullptr;
  unigen::cuda::check_cuda(cudaStreamCreate(&s), "test");
  {
    unigen::cuda::StreamGuard guard(s);
    CHECK(unigen::cuda::current_stream() == s);
    DeviceBuffer<float> c(v.size());
    unigen::cuda::copy_device_to_device(c.data(), b.data(), v.size() * sizeof(float));
    CHECK(c.download() == v);
  }
  CHECK(unigen::cuda::current_stream() == nullptr);
  unigen::cuda::check_cuda(cudaStreamDestroy(s), "test");
}

TEST_CASE("cuda errors become unigen::Error naming the op", "[cuda][runtime]") {
  try {
    unigen::cuda::check_cuda(cudaErrorInvalidValue, "my_op");
    FAIL("no throw");
  } catch (const unigen::Error& e) {
    CHECK(std::string(e.what()).find("my_op") != std::string::npos);
    CHECK(std::string(e.what()).find("cudaErrorInvalidValue") != std::string::npos);
  }
  CHECK_THROWS_AS(unigen::cuda::device_alloc(size_t(1) << 62), unigen::Error);
  const auto info = unigen::cuda::device_info(0);
  CHECK(info.peak_bandwidth_gbs > 0);
  CHECK(info.l2_bytes > 0);
}
