// Tensor core: creation, views sharing storage, broadcasting, element access, dtypes, printing.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

#include <omp.h>

#include "unigen/unigen.hpp"

using namespace unigen;

TEST_CASE("creation", "[tensor]") {
  auto z = Tensor<float>::zeros({2, 3});
  REQUIRE(z.shape() == Shape{2, 3});
  REQUIRE(z.strides() == Shape{3, 1});
  REQUIRE(z.numel() == 6);
  REQUIRE(z.to_vector() == std::vector<float>(6, 0.0f));
  REQUIRE(Tensor<double>::ones({4}).to_vector() == std::vector<double>(4, 1.0));
  REQUIRE(Tensor<double>::full({2}, 2.5).to_vector() == std::vector<double>{2.5, 2.5});
  REQUIRE(Tensor<float>::arange(5).to_vector() == std::vector<float>{0, 1, 2, 3, 4});
  REQUIRE(Tensor<double>::arange(1, 2, 0.25).to_vector() == std::vector<double>{1, 1.25, 1.5, 1.75});
  REQUIRE(Tensor<double>::scalar(3).item() == 3.0);
  REQUIRE(Tensor<double>::scalar(3).dim() == 0);
  auto v = Tensor<float>::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  REQUIRE(v.at({1, 2}) == 6.0f);
  v.set({0, 1}, 9.0f);
  REQUIRE(v.at({0, 1}) == 9.0f);
  CHECK_THROWS_WITH(Tensor<float>::from_vector(std::vector<float>{1, 2, 3}, {2, 2}),
                    Catch::Contains("from_vector") && Catch::Contains("[2, 2]"));
  CHECK_THROWS_WITH(v.at({2, 0}), Catch::Contains("out of range"));
  CHECK_THROWS_WITH(v.item(), Catch::Contains("item"));
}

TEST_CASE("seeded random tensors repeat and have the right moments", "[tensor]") {
  Generator g1(99), g2(99);
  auto a = Tensor<double>::randn({20000}, g1), b = Tensor<double>::randn({20000}, g2);
  REQUIRE(a.to_vector() == b.to_vector());
  double m = mean(a).item(), var = mean(pow(a - m, 2.0)).item();
  REQUIRE(std::abs(m) < 0.03);
  REQUIRE(std::abs(var - 1.0) < 0.05);
  auto u = Tensor<double>::rand({20000}, g1, 2.0, 4.0);
  REQUIRE(min(u).item() >= 2.0);
  REQUIRE(max(u).item() < 4.0);
  REQUIRE(std::abs(mean(u).item() - 3.0) < 0.03);
  auto r = Tensor<int64_t>::randint(0, 3, {1000}, g1);
  for (auto x : r.to_vector()) REQUIRE((x >= 0 && x < 3));
}

TEST_CASE("views share storage and carry strides", "[tensor][views]") {
  auto a = Tensor<float>::arange(24).reshape({2, 3, 4});
  auto p = a.permute({2, 0, 1});
  REQUIRE(p.shape() == Shape{4, 2, 3});
  REQUIRE(p.strides() == Shape{1, 12, 4});
  REQUIRE(p.shares_storage(a));
  REQUIRE_FALSE(p.is_contiguous());
  REQUIRE(p.at({3, 1, 2}) == a.at({1, 2, 3}));
  auto s = a.slice(2, 1, 4, 2);
  REQUIRE(s.shape() == Shape{2, 3, 2});
  REQUIRE(s.at({1, 1, 1}) == a.at({1, 1, 3}));
  auto t = a.transpose(0, 2);
  REQUIRE(t.at({3, 2, 1}) == a.at({1, 2, 3}));
  auto e = Tensor<float>::arange(3).unsqueeze(0).expand({4, 3});
  REQUIRE(e.strides() == Shape{0, 1});
  REQUIRE(e.at({3, 2}) == 2.0f);
  REQUIRE(a.narrow(1, 1, 2).shape() == Shape{2, 2, 4});
  REQUIRE(a.select(1, 2).at({1, 3}) == a.at({1, 2, 3}));
  REQUIRE(a.unsqueeze(-1).shape() == Shape{2, 3, 4, 1});
  REQUIRE(a.unsqueeze(-1).squeeze(-1).shape() == Shape{2, 3, 4});
  REQUIRE(a.view({6, -1}).shape() == Shape{6, 4});
  REQUIRE(a.flatten(1).shape() == Shape{2, 12});
  // writes through a view are seen by the base
  NoGrad ng;
  s.fill_(-1.0);
  REQUIRE(a.at({0, 0, 1}) == -1.0f);
  REQUIRE(a.at({0, 0, 2}) == 2.0f);
  // a permuted tensor cannot be viewed, but it can be reshaped (which copies)
  CHECK_THROWS_WITH(p.view({24}), Catch::Contains("reshape"));
  auto r = p.reshape({24});
  REQUIRE_FALSE(r.shares_storage(a));
  REQUIRE(r.to_vector() == p.contiguous().to_vector());
  auto c = a.contiguous();
  REQUIRE(c.shares_storage(a));
  // reshape of a sliced-but-row-contiguous view stays a view
  auto rows = a.reshape({6, 4}).slice(0, 2, 5);
  REQUIRE(rows.reshape({3, 2, 2}).shares_storage(a));
}

TEST_CASE("strided copies and in-place updates of large views, on 1 and 2 threads", "[tensor][views]") {
  // Large enough (165888 elements) for the loops to share rows among threads; integer values, so exact.
  const Shape shape{64, 81, 4, 8};
  auto a = Tensor<float>::arange(64 * 81 * 4 * 8).reshape(shape);
  auto value = [](int64_t i, int64_t j, int64_t k, int64_t l) { return float(((i * 81 + j) * 4 + k) * 8 + l); };
  // every element of t (a view of a with dims in `order`) against the value its index names in a
  auto matches = [&](const Tensor<float>& t, const std::vector<int64_t>& order, auto expect) {
    auto v = t.contiguous().to_vector();
    int64_t bad = 0, n = 0;
    std::array<int64_t, 4> idx{};
    for (idx[0] = 0; idx[0] < t.size(0); ++idx[0])
      for (idx[1] = 0; idx[1] < t.size(1); ++idx[1])
        for (idx[2] = 0; idx[2] < t.size(2); ++idx[2])
          for (idx[3] = 0; idx[3] < t.size(3); ++idx[3]) {
            std::array<int64_t, 4> src{};
            for (int d = 0; d < 4; ++d) src[size_t(order[size_t(d)])] = idx[size_t(d)];
            bad += v[size_t(n++)] != expect(value(src[0], src[1], src[2], src[3]));
          }
    return bad;
  };
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    CAPTURE(threads);
    auto unit = a.permute({0, 2, 1, 3});     // last dim still contiguous
    auto strided = a.permute({3, 1, 2, 0});  // last dim at stride 2592
    CHECK(matches(unit.clone(), {0, 2, 1, 3}, [](float x) { return x; }) == 0);
    CHECK(matches(strided.clone(), {3, 1, 2, 0}, [](float x) { return x; }) == 0);
    auto d = strided.to<double>();
    CHECK(d.at({7, 80, 3, 63}) == double(value(63, 80, 3, 7)));
    CHECK(sum(d).item() == 0.5 * double(a.numel()) * double(a.numel() - 1));
    // broadcasting map over a non-contiguous operand: strided + a row broadcast along dim 0
    auto row = Tensor<float>::arange(81 * 4 * 64).reshape({1, 81, 4, 64});
    auto m = strided + row;
    CHECK(matches(m - row, {3, 1, 2, 0}, [](float x) { return x; }) == 0);
    NoGrad ng;
    auto b = a.clone();
    auto bv = b.permute({3, 1, 2, 0});
    bv.add_(strided, 2.0);  // b = 3a, written through a permuted view
    CHECK(matches(b, {0, 1, 2, 3}, [](float x) { return 3 * x; }) == 0);
    bv.mul_(0.5);
    CHECK(matches(b, {0, 1, 2, 3}, [](float x) { return 1.5f * x; }) == 0);
    bv.copy_(strided);
    CHECK(matches(b, {0, 1, 2, 3}, [](float x) { return x; }) == 0);
    b.slice(3, 0, 8, 2).fill_(-1.0);
    CHECK(matches(b, {0, 1, 2, 3}, [](float x) { return int64_t(x) % 2 == 0 ? -1.0f : x; }) == 0);
    // an expanded destination: 2592 indices share each element, and every one of the updates must land
    auto base = Tensor<float>::zeros({64});
    base.unsqueeze(0).expand({2592, 64}).add_(Tensor<float>::ones({2592, 64}));
    CHECK(min(base).item() == 2592.0f);
    CHECK(max(base).item() == 2592.0f);
  }
  omp_set_num_threads(omp_get_num_procs());
}

TEST_CASE("broadcasting follows NumPy", "[tensor][broadcast]") {
  REQUIRE(broadcast_shapes({2, 1, 4}, {3, 1}, "t") == Shape{2, 3, 4});
  REQUIRE(broadcast_shapes({}, {5}, "t") == Shape{5});
  CHECK_THROWS_WITH(broadcast_shapes({2, 3}, {4, 3}, "myop"), Catch::Contains("myop") && Catch::Contains("[2, 3]"));
  auto a = Tensor<double>::arange(3).reshape({3, 1});
  auto b = Tensor<double>::arange(4);
  auto c = a * 10.0 + b;
  REQUIRE(c.shape() == Shape{3, 4});
  REQUIRE(c.at({2, 3}) == 23.0);
  // broadcasting a non-contiguous operand
  auto d = Tensor<double>::arange(12).reshape({4, 3}).mT() + b.unsqueeze(0);
  REQUIRE(d.at({2, 1}) == 5.0 + 1.0);
}

TEST_CASE("16-bit types round to nearest even and convert", "[dtype]") {
  REQUIRE(float(bf16(1.0f)) == 1.0f);
  REQUIRE(bf16(1.0f + 0x1.0p-8f).bits == bf16(1.0f).bits);           // tie rounds to even
  REQUIRE(float(bf16(1.0f + 0x1.8p-8f)) == 1.0f + 0x1.0p-7f);         // above the tie rounds up
  REQUIRE(std::isnan(float(bf16(NAN))));
  REQUIRE(float(f16(65504.0f)) == 65504.0f);
  REQUIRE(std::isinf(float(f16(65520.0f))));
  REQUIRE(float(f16(0x1.0p-24f)) == 0x1.0p-24f);                      // smallest subnormal
  REQUIRE(float(f16(1.0f + 0x1.0p-11f)) == 1.0f);                     // tie rounds to even
  REQUIRE(float(f16(-2.5f)) == -2.5f);
  for (float x : {0.1f, -3.3f, 1000.5f, 1e-5f}) {
    REQUIRE(std::abs(float(f16(x)) - x) <= std::abs(x) * 0x1.0p-11f + 0x1.0p-25f);
    REQUIRE(std::abs(float(bf16(x)) - x) <= std::abs(x) * 0x1.0p-8f);
  }
  auto t = Tensor<float>::from_vector(std::vector<float>{0.1f, 2.0f}, {2});
  auto h = t.to<f16>();
  REQUIRE(h.dtype() == DType::f16);
  REQUIRE(h.to<float>().at({1}) == 2.0f);
  REQUIRE(t.to<double>().at({0}) == double(0.1f));
  REQUIRE(Tensor<int64_t>::from_vector(std::vector<int>{3, -1}, {2}).to<float>().to_vector() == std::vector<float>{3, -1});
}

TEST_CASE("printing shows dtype, shape and values", "[tensor]") {
  std::ostringstream os;
  os << Tensor<float>::arange(4).reshape({2, 2});
  REQUIRE(os.str() == "Tensor<f32>[2, 2]\n[[0, 1],\n [2, 3]]");
  std::ostringstream big;
  big << Tensor<double>::arange(20);
  REQUIRE(big.str().find("...") != std::string::npos);
}

TEST_CASE("devices: the CPU is always there; CUDA needs the CUDA build", "[device]") {
  auto a = Tensor<float>::ones({2});
  REQUIRE(a.device() == Device::cpu());
  REQUIRE(a.to(Device::cpu()).shares_storage(a));
  REQUIRE(Device::cuda(1).str() == "cuda:1");
  CHECK_THROWS_WITH(a.to(Device::cuda(0)), Catch::Contains("cuda:0"));
}

// Blocks of 128 KiB or more come back from the host cache; smaller ones and blocks past the limit do not.
// The limit is set per process (UNIGEN_HOST_CACHE_MB), so the limit cases run in child processes.
namespace {
constexpr int64_t kTwoMiB = int64_t(1) << 19;  // floats
}  // namespace

TEST_CASE("host cache within one process (child process)", "[.][host-cache-env]") {
  const size_t limit = host_cache_limit();
  host_cache_clear();
  { auto a = Tensor<float>::empty({kTwoMiB}), b = Tensor<float>::empty({kTwoMiB}); }
  // two 2 MiB blocks freed: both kept under a 1 GiB limit, one under 3 MiB, none when off
  const size_t want = limit >= (size_t(4) << 20) ? size_t(4) << 20 : limit >= (size_t(2) << 20) ? size_t(2) << 20 : 0;
  REQUIRE(host_cache_bytes() == want);
}

TEST_CASE("large freed blocks are reused through the host cache, up to its limit", "[tensor][memory]") {
#if !defined(__SANITIZE_ADDRESS__)
  REQUIRE(host_cache_limit() == (size_t(1024) << 20));  // the default (ctest sets no UNIGEN_HOST_CACHE_MB)
  host_cache_clear();
  REQUIRE(host_cache_bytes() == 0);
  const float* p = nullptr;
  {
    auto a = Tensor<float>::full({kTwoMiB}, 3.0);
    p = a.data();
  }
  REQUIRE(host_cache_bytes() == size_t(kTwoMiB) * sizeof(float));
  auto b = Tensor<float>::zeros({kTwoMiB});
  REQUIRE(b.data() == p);  // the same block, and zeros() still zeroes it
  REQUIRE(host_cache_bytes() == 0);
  REQUIRE(b.to_vector() == std::vector<float>(size_t(kTwoMiB), 0.0f));
  { auto small = Tensor<float>::empty({1000}); }
  REQUIRE(host_cache_bytes() == 0);
  // of several cached blocks of one size, the one freed last comes back first (it is the likeliest to
  // be in the CPU's caches still)
  {
    std::vector<Tensor<float>> held(3);
    std::vector<const float*> freed;
    for (auto& t : held) t = Tensor<float>::empty({kTwoMiB});
    for (auto& t : held) freed.push_back(t.data()), t = Tensor<float>();  // freed in the order 0, 1, 2
    REQUIRE(host_cache_bytes() == 3 * size_t(kTwoMiB) * sizeof(float));
    for (auto& t : held) t = Tensor<float>::empty({kTwoMiB});  // held, so each take sees the rest
    CHECK(held[0].data() == freed[2]);
    CHECK(held[1].data() == freed[1]);
    CHECK(held[2].data() == freed[0]);
  }
  host_cache_clear();
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  for (const char* mb : {"0", "3", "1024"}) {
    const std::string cmd = std::string("UNIGEN_HOST_CACHE_MB=") + mb + " '" + self + "' '[host-cache-env]' > /dev/null";
    INFO(cmd);
    CHECK(std::system(cmd.c_str()) == 0);
  }
  // anything but a whole number >= 0 is an error at the first allocation, not a silent default
  CHECK(std::system(("UNIGEN_HOST_CACHE_MB=lots '" + self + "' '[host-cache-env]' > /dev/null 2>&1").c_str()) != 0);
#else
  REQUIRE(host_cache_limit() == 0);  // AddressSanitizer must see every use after free
#endif
}
