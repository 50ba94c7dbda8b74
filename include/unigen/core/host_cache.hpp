#pragma once
// Host memory for tensors: 64-byte aligned blocks, with large freed blocks kept for reuse.
// A training step allocates the same large tensors every step; from the system each would be a fresh
// mapping (glibc maps blocks of 128 KiB and more), paid again with a page fault and a page of zeroing
// per 4 KiB: about 35 thousand page faults per training step of the tiny config without this cache,
// 1.7 thousand with it. So blocks of 128 KiB or more go, when freed, into a cache keyed by their size
// and come back for the next allocation of that size. The cache holds at most UNIGEN_HOST_CACHE_MB MiB
// (default 1024; 0 turns it off; read once; anything else is an error). A block that does not fit is
// given back at once; host_cache_clear() gives back all of them, and so does an allocation the system
// refuses, before it tries again. Off under AddressSanitizer, so that it still sees every use after free.
#include <cstddef>
#include <cstdlib>
#include <iterator>
#include <map>
#include <mutex>
#include <new>

#include "unigen/core/error.hpp"

namespace unigen {

namespace detail {

class HostCache {
 public:
  static constexpr size_t kMinBytes = size_t(128) << 10;

  // The process-wide cache; never destroyed, so tensors freed during static destruction still find it.
  static HostCache& get() {
    static HostCache* c = new HostCache();
    return *c;
  }

  // A block of `bytes` (64-byte aligned): the cached one of that size freed last, else a new one (throws
  // bad_alloc). Last in, first out: the block freed last is the one most likely still in the CPU's
  // caches, so an op writing its output there does not first fetch each line from memory. (First in,
  // first out, a step's many same-size tensors took turns through the blocks, each write landing in the
  // one longest out of the caches.)
  void* take(size_t bytes) {
    if (bytes >= kMinBytes) {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto [lo, hi] = free_.equal_range(bytes); lo != hi) {
        const auto it = std::prev(hi);  // emplace puts equal keys at the end of their range
        void* p = it->second;
        free_.erase(it);
        cached_ -= bytes;
        return p;
      }
    }
    try {
      return ::operator new(bytes, std::align_val_t(64));
    } catch (const std::bad_alloc&) {
      clear();  // the cached blocks may be what the system is missing
      return ::operator new(bytes, std::align_val_t(64));
    }
  }

  // Takes back a block from take(bytes): kept when large and there is room, else freed.
  void give(void* p, size_t bytes) {
    if (bytes >= kMinBytes) {
      std::lock_guard<std::mutex> lock(mu_);
      if (cached_ + bytes <= limit_) {
        free_.emplace(bytes, p);
        cached_ += bytes;
        return;
      }
    }
    ::operator delete(p, std::align_val_t(64));
  }

  void clear() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [bytes, p] : free_) ::operator delete(p, std::align_val_t(64));
    free_.clear();
    cached_ = 0;
  }

  size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_;
  }
  size_t limit_bytes() const { return limit_; }

 private:
  HostCache() : limit_(default_limit()) {}
  static size_t default_limit() {
#if defined(__SANITIZE_ADDRESS__)
    return 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return 0;
#endif
#endif
    const char* env = std::getenv("UNIGEN_HOST_CACHE_MB");
    if (!env || !*env) return size_t(1024) << 20;
    char* end = nullptr;
    const long long mb = std::strtoll(env, &end, 10);
    check(*end == 0 && mb >= 0, "UNIGEN_HOST_CACHE_MB=", env, ": expected a whole number of MiB >= 0");
    return size_t(mb) << 20;
  }

  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  size_t cached_ = 0;
  const size_t limit_;
};

}  // namespace detail

// Bytes of freed tensor memory the host cache holds for reuse, and its limit (UNIGEN_HOST_CACHE_MB).
inline size_t host_cache_bytes() { return detail::HostCache::get().cached_bytes(); }
inline size_t host_cache_limit() { return detail::HostCache::get().limit_bytes(); }
// Gives all cached blocks back to the system.
inline void host_cache_clear() { detail::HostCache::get().clear(); }

}  // namespace unigen
