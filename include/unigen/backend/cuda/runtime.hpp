#pragma once
// Host side of the CUDA backend: CUDA errors as unigen::Error, a caching device allocator, the current
// stream, host<->device copies and device queries. Compiled only under nvcc; empty for other compilers.
#if defined(__CUDACC__)

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "unigen/core/error.hpp"

namespace unigen::cuda {

// Throws Error naming the op and the CUDA error when e is not cudaSuccess.
inline void check_cuda(cudaError_t e, const char* op, const char* what = "") {
  if (e != cudaSuccess)
    fail(op, ": CUDA error ", int(e), " ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")",
         what[0] ? " in " : "", what);
}

// After a kernel launch: reports a bad launch configuration; with UNIGEN_CUDA_SYNC=1 in the environment
// it also synchronises, so that a fault inside the kernel is reported by the op that caused it.
inline void check_launch(const char* op) {
  check_cuda(cudaGetLastError(), op, "kernel launch");
  static const bool sync = [] {
    const char* s = std::getenv("UNIGEN_CUDA_SYNC");
    return s && s[0] == '1';
  }();
  if (sync) check_cuda(cudaDeviceSynchronize(), op, "kernel execution (UNIGEN_CUDA_SYNC=1)");
}

// Number of CUDA devices; 0 when there is no driver or no device (never throws).
inline int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0, sm_count = 0;
  size_t global_mem = 0, l2_bytes = 0, smem_per_block_optin = 0;
  double peak_bandwidth_gbs = 0;  // 2 (DDR) x memory clock x bus width
};

// Properties of device i (throws when it does not exist).
inline DeviceInfo device_info(int i = 0) {
  cudaDeviceProp p{};
  check_cuda(cudaGetDeviceProperties(&p, i), "device_info");
  DeviceInfo d;
  d.name = p.name;
  d.major = p.major, d.minor = p.minor, d.sm_count = p.multiProcessorCount;
  d.global_mem = p.totalGlobalMem, d.l2_bytes = size_t(p.l2CacheSize);
  d.smem_per_block_optin = p.sharedMemPerBlockOptin;
  int clock_khz = 0, bus_bits = 0;
  check_cuda(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, i), "device_info");
  check_cuda(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, i), "device_info");
  d.peak_bandwidth_gbs = 2.0 * double(clock_khz) * 1e3 * double(bus_bits) / 8.0 / 1e9;
  return d;
}

// The stream the calling thread's ops run on (default: the legacy default stream).
inline cudaStream_t& current_stream_ref() {
  thread_local cudaStream_t s = nullptr;
  return s;
}
inline cudaStream_t current_stream() { return current_stream_ref(); }

// Makes `s` the calling thread's current stream for the guard's lifetime.
class StreamGuard {
 public:
  explicit StreamGuard(cudaStream_t s) : prev_(current_stream_ref()) { current_stream_ref() = s; }
  ~StreamGuard() { current_stream_ref() = prev_; }
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  cudaStream_t prev_;
};

// Caching allocator on cudaMalloc: freed blocks go to a free list per (device, size class) and are
// reused; release_cached() returns them to CUDA. Thread-safe. Never managed memory.
class Allocator {
 public:
  static Allocator& instance() {
    static Allocator* a = new Allocator();  // never destroyed: blocks may be freed during static teardown
    return *a;
  }

  // Size class: 512-byte multiples up to 1 MiB, then powers of two up to 256 MiB, then 2 MiB multiples.
  static size_t size_class(size_t bytes) {
    if (bytes == 0) bytes = 1;
    if (bytes <= (size_t(1) << 20)) return (bytes + 511) / 512 * 512;
    if (bytes <= (size_t(1) << 28)) {
      size_t c = size_t(1) << 20;
      while (c < bytes) c <<= 1;
      return c;
    }
    const size_t m = size_t(2) << 20;
    return (bytes + m - 1) / m * m;
  }

  // Device memory of at least `bytes` bytes on the current device.
  void* allocate(size_t bytes, const char* op = "cuda::Allocator::allocate") {
    const size_t cls = size_class(bytes);
    int dev = 0;
    check_cuda(cudaGetDevice(&dev), op);
    std::lock_guard<std::mutex> lock(mu_);
    auto& list = free_[{dev, cls}];
    if (!list.empty()) {
      void* p = list.back();
      list.pop_back();
      cached_bytes_ -= cls;
      live_[p] = {dev, cls};
      return p;
    }
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, cls);
    if (e == cudaErrorMemoryAllocation) {  // free the cache and try once more
      (void)cudaGetLastError();
      release_locked();
      e = cudaMalloc(&p, cls);
    }
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      fail(op, ": cudaMalloc of ", cls, " bytes (for ", bytes, ") on cuda:", dev, " failed: ", cudaGetErrorString(e));
    }
    live_[p] = {dev, cls};
    return p;
  }

  // Returns p (from allocate) to its free list; nullptr is ignored.
  void deallocate(void* p) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) {  // not ours: hand it straight back to CUDA (a destructor must not throw)
      (void)cudaFree(p);
      return;
    }
    free_[{it->second.first, it->second.second}].push_back(p);
    cached_bytes_ += it->second.second;
    live_.erase(it);
  }

  // cudaFree of every cached (unused) block.
  void release_cached() {
    std::lock_guard<std::mutex> lock(mu_);
    release_locked();
  }
  size_t cached_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_bytes_;
  }

 private:
  void release_locked() {
    int cur = 0;
    (void)cudaGetDevice(&cur);
    for (auto& [key, list] : free_) {
      (void)cudaSetDevice(key.first);
      for (void* p : list) (void)cudaFree(p);
      list.clear();
    }
    (void)cudaSetDevice(cur);
    cached_bytes_ = 0;
  }
  mutable std::mutex mu_;
  std::map<std::pair<int, size_t>, std::vector<void*>> free_;
  std::unordered_map<void*, std::pair<int, size_t>> live_;
  size_t cached_bytes_ = 0;
};

inline void* device_alloc(size_t bytes, const char* op = "cuda::device_alloc") {
  return Allocator::instance().allocate(bytes, op);
}
inline void device_free(void* p) { Allocator::instance().deallocate(p); }
inline void release_cached() { Allocator::instance().release_cached(); }

// Host -> device copy of `bytes` bytes on stream s (synchronous with respect to the host when s is
// the default stream and src is pageable memory).
inline void copy_to_device(void* dst, const void* src, size_t bytes, cudaStream_t s = current_stream(),
                           const char* op = "cuda::copy_to_device") {
  if (bytes) check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s), op);
}
// Device -> host copy; waits for the stream so that dst may be read at once.
inline void copy_to_host(void* dst, const void* src, size_t bytes, cudaStream_t s = current_stream(),
                         const char* op = "cuda::copy_to_host") {
  if (!bytes) return;
  check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), op);
  check_cuda(cudaStreamSynchronize(s), op);
}
inline void copy_device_to_device(void* dst, const void* src, size_t bytes, cudaStream_t s = current_stream(),
                                  const char* op = "cuda::copy_device_to_device") {
  if (bytes) check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s), op);
}
// The value that make(device) returns, made once for each device (up to 64) on first use and kept for the
// process; returns the current device's. Thread-safe. One store per call site (F is the call site's lambda).
template <class V, class F>
const V& per_device(const char* op, F make) {
  static std::mutex mu;
  static V values[64];
  static bool made[64] = {};
  int dev = 0;
  check_cuda(cudaGetDevice(&dev), op);
  unigen::check(dev >= 0 && dev < 64, op, ": device index ", dev, " out of range");
  std::lock_guard<std::mutex> lock(mu);
  if (!made[dev]) values[dev] = make(dev), made[dev] = true;
  return values[dev];
}

inline void synchronize(const char* op = "cuda::synchronize") { check_cuda(cudaDeviceSynchronize(), op); }

// An owning array of n T on the current device, from the caching allocator (contents uninitialised).
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) : n_(n), p_(static_cast<T*>(device_alloc(n * sizeof(T), "cuda::DeviceBuffer"))) {}
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { device_free(p_); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : n_(o.n_), p_(o.p_) { o.n_ = 0, o.p_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      device_free(p_);
      n_ = o.n_, p_ = o.p_;
      o.n_ = 0, o.p_ = nullptr;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* data() const { return p_; }
  size_t size() const { return n_; }
  void upload(const std::vector<T>& host) {
    unigen::check(host.size() == n_, "cuda::DeviceBuffer::upload: ", host.size(), " values for a buffer of ", n_);
    copy_to_device(p_, host.data(), n_ * sizeof(T));
  }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    copy_to_host(host.data(), p_, n_ * sizeof(T));
    return host;
  }
  void zero() {
    if (n_) check_cuda(cudaMemsetAsync(p_, 0, n_ * sizeof(T), current_stream()), "cuda::DeviceBuffer::zero");
  }

 private:
  size_t n_ = 0;
  T* p_ = nullptr;
};

}  // namespace unigen::cuda

#endif  // __CUDACC__
