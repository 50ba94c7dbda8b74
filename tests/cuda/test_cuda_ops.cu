// The CUDA row, elementwise, loss, embedding and optimiser kernels against unigen's CPU ops (forward and
// backward through unigen's autograd): fp32 within 1e-4, bf16 within 2x the CPU's own bf16 error.
#include <limits>

#include "cuda_test_util.hpp"
#include "kernels/adamw.cuh"
#include "kernels/elementwise.cuh"
#include "kernels/embedding.cuh"
#include "kernels/layernorm.cuh"
#include "kernels/loss.cuh"
#include "kernels/softmax.cuh"

using namespace cutest;
using unigen::Tensor;

namespace {

// Rows of n values stored with row stride ld after `off` leading elements; the gaps hold NaN so that a kernel
// reading them spoils its row, and a kernel writing them is caught by unpad().
struct RowLayout {
  int64_t rows, n, ld, off;
  size_t size() const { return size_t(off + rows * ld); }
  // v: [rows, n] -> the padded vector.
  template <class H>
  std::vector<H> pad(const std::vector<H>& v) const {
    std::vector<H> p(size(), H(std::numeric_limits<float>::quiet_NaN()));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < n; ++j) p[size_t(off + r * ld + j)] = v[size_t(r * n + j)];
    return p;
  }
  // The padded vector -> [rows, n]; checks that the gaps still hold NaN.
  std::vector<double> unpad(const std::vector<double>& p) const {
    std::vector<double> v(size_t(rows * n));
    size_t gaps_written = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      const int64_t r = (int64_t(i) - off) / ld, j = (int64_t(i) - off) % ld;
      if (int64_t(i) >= off && j < n) v[size_t(r * n + j)] = p[i];
      else gaps_written += !std::isnan(p[i]);
    }
    INFO("row layout n " << n << ", ld " << ld << ", off " << off);
    CHECK(gaps_written == 0);
    return v;
  }
};

// softmax / log_softmax forward and backward on rows laid out as L (x, y, dy, dx alike).
template <class H>
void softmax_case(RowLayout L, bool log) {
  using D = dev_elem_t<H>;
  const int64_t rows = L.rows, n = L.n;
  INFO((log ? "log_softmax" : "softmax") << " rows " << rows << ", n " << n << ", ld " << L.ld << ", off " << L.off);
  std::vector<H> x = randn<H>(size_t(rows * n), 11, 3.0), g = randn<H>(size_t(rows * n), 12);
  if (rows > 2)  // one fully masked row
    for (int64_t j = 0; j < n; ++j) x[size_t(2 * n + j)] = H(-INFINITY);
  if (rows > 4)  // one row masked on its first half
    for (int64_t j = 0; j < n / 2; ++j) x[size_t(4 * n + j)] = H(-INFINITY);
  const std::vector<H> nan_rows = L.pad(std::vector<H>(size_t(rows * n)));
  auto dx = upload(L.pad(x)), dg = upload(L.pad(g)), dy = upload(nan_rows), dgx = upload(nan_rows);
  K::softmax_forward<D>(dx.data() + L.off, L.ld, dy.data() + L.off, L.ld, rows, n, log);
  K::softmax_backward<D>(dy.data() + L.off, dg.data() + L.off, dgx.data() + L.off, L.ld, rows, n, log);
  // -inf outputs (log_softmax of the fully masked row) compare as equal: they become 0 on both sides
  auto finite = [](std::vector<double> v) {
    for (auto& e : v)
      if (std::isinf(e) && e < 0) e = 0;
    return v;
  };
  compare<H>("softmax", {finite(L.unpad(to_double(download<H>(dy)))), L.unpad(to_double(download<H>(dgx)))},
             [&](auto tag) {
               using T = decltype(tag);
               Tensor<T> xt = tensor<T>(x, {rows, n}).set_requires_grad();
               Tensor<T> y = log ? unigen::log_softmax(xt, -1) : unigen::softmax(xt, -1);
               y.backward(tensor<T>(g, {rows, n}));
               return std::vector<std::vector<double>>{finite(to_double(y.detach())), to_double(xt.grad())};
             });
}

// layer_norm forward and backward on rows laid out as L; affine = false passes null w and b (1 and 0).
template <class H>
void layer_norm_case(RowLayout L, bool affine = true) {
  using D = dev_elem_t<H>;
  const int64_t rows = L.rows, D_ = L.n;
  INFO("layer_norm rows " << rows << ", D " << D_ << ", ld " << L.ld << ", off " << L.off << ", affine " << affine);
  std::vector<H> x = randn<H>(size_t(rows * D_), 21, 2.0), w = randn<H>(size_t(D_), 22), b = randn<H>(size_t(D_), 23),
                 g = randn<H>(size_t(rows * D_), 24);
  for (size_t i = 0; i < x.size(); ++i) x[i] = H(float(x[i]) + 1.5f);  // a mean away from 0
  if (!affine) {  // the CPU reference gets the values the kernels assume for null w and b
    w.assign(w.size(), H(1.f));
    b.assign(b.size(), H(0.f));
  }
  const std::vector<H> nan_rows = L.pad(std::vector<H>(size_t(rows * D_)));
  auto dx = upload(L.pad(x)), dw = upload(w), db = upload(b), dg = upload(L.pad(g)), dy = upload(nan_rows),
       dgx = upload(nan_rows);
  const D* wp = affine ? dw.data() : nullptr;
  DeviceBuffer<float> mean{size_t(rows)}, rstd{size_t(rows)}, gw{size_t(D_)}, gb{size_t(D_)};
  K::layer_norm_forward<D>(dx.data() + L.off, dy.data() + L.off, wp, affine ? db.data() : nullptr, mean.data(),
                           rstd.data(), L.ld, rows, D_, 1e-5f);
  K::layer_norm_backward<D>(dx.data() + L.off, dg.data() + L.off, wp, mean.data(), rstd.data(), dgx.data() + L.off,
                            gw.data(), gb.data(), L.ld, rows, D_);
  compare<H>("layer_norm",
             {L.unpad(to_double(download<H>(dy))), L.unpad(to_double(download<H>(dgx))), to_double(gw.download()),
              to_double(gb.download())},
             [&](auto tag) {
               using T = decltype(tag);
               Tensor<T> xt = tensor<T>(x, {rows, D_}).set_requires_grad(),
                         wt = tensor<T>(w, {D_}).set_requires_grad(), bt = tensor<T>(b, {D_}).set_requires_grad();
               Tensor<T> y = unigen::layer_norm(xt, wt, bt, 1e-5);
               y.backward(tensor<T>(g, {rows, D_}));
               return std::vector<std::vector<double>>{to_double(y.detach()), to_double(xt.grad()), to_double(wt.grad()),
                                                       to_double(bt.grad())};
             });
}

template <class H>
void gelu_case(int64_t n) {
  using D = dev_elem_t<H>;
  std::vector<H> x = randn<H>(size_t(n), 31, 2.0), g = randn<H>(size_t(n), 32);
  auto dx = upload(x), dg = upload(g);
  DeviceBuffer<D> dy{size_t(n)}, dgx{size_t(n)};
  K::gelu_forward<D>(dx.data(), dy.data(), n);
  K::gelu_backward<D>(dx.data(), dg.data(), dgx.data(), n);
  compare<H>("gelu", {to_double(download<H>(dy)), to_double(download<H>(dgx))}, [&](auto tag) {
    using T = decltype(tag);
    Tensor<T> xt = tensor<T>(x, {n}).set_requires_grad();
    Tensor<T> y = unigen::gelu(xt);
    y.backward(tensor<T>(g, {n}));
    return std::vector<std::vector<double>>{to_double(y.detach()), to_double(xt.grad())};
  });
}

template <class H>
void cross_entropy_case(int64_t rows, int64_t C, double eps, bool weighted, K::CeReduction red) {
  using D = dev_elem_t<H>;
  INFO("cross_entropy rows " << rows << ", C " << C << ", eps " << eps << ", weighted " << weighted << ", reduction "
                             << int(red));
  std::vector<H> z = randn<H>(size_t(rows * C), 41, 2.0);
  std::vector<int64_t> y(static_cast<size_t>(rows));
  unigen::Generator gen(42);
  for (auto& t : y) t = int64_t(gen.below(uint64_t(C)));
  y[1] = -100;  // ignored
  std::vector<float> w(size_t(C), 1.f);
  if (weighted)
    for (auto& v : w) v = float(0.5 + gen.uniform());
  float wsum = 0;
  for (float v : w) wsum += v;
  const int64_t nout = red == K::CeReduction::none ? rows : 1;
  std::vector<H> dout = randn<H>(size_t(nout), 43);
  auto dz = upload(z), ddout = upload(dout);
  auto dy = upload(y);
  auto dwt = upload(w);
  DeviceBuffer<D> out{size_t(nout)}, gz{size_t(rows * C)};
  K::CrossEntropyState st;
  K::cross_entropy_forward<D>(dz.data(), C, dy.data(), weighted ? dwt.data() : nullptr, wsum, rows, C, float(eps), -100,
                              red, out.data(), st);
  K::cross_entropy_backward<D>(dz.data(), C, dy.data(), weighted ? dwt.data() : nullptr, rows, C, float(eps), -100, red,
                               ddout.data(), st, gz.data(), C);
  CHECK(st.bad.download()[0] == 0);
  compare<H>("cross_entropy", {to_double(download<H>(out)), to_double(download<H>(gz))}, [&](auto tag) {
    using T = decltype(tag);
    Tensor<T> zt = tensor<T>(z, {rows, C}).set_requires_grad();
    unigen::CrossEntropyOptions opt;
    opt.label_smoothing = eps;
    opt.reduction = red == K::CeReduction::mean ? unigen::Reduction::mean
                    : red == K::CeReduction::sum ? unigen::Reduction::sum : unigen::Reduction::none;
    Tensor<T> l = unigen::cross_entropy(zt, Tensor<int64_t>::from_vector(y, {rows}), opt,
                                        weighted ? tensor<T>(w, {C}) : Tensor<T>());
    l.backward(red == K::CeReduction::none ? tensor<T>(dout, {rows}) : tensor<T>(dout, {}));
    return std::vector<std::vector<double>>{to_double(l.detach()), to_double(zt.grad())};
  });
}

template <class H>
void embedding_case(int64_t V, int64_t Dm, int64_t n) {
  using D = dev_elem_t<H>;
  std::vector<H> w = randn<H>(size_t(V * Dm), 51), g = randn<H>(size_t(n * Dm), 52);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  unigen::Generator gen(53);
  for (auto& t : ids) t = int64_t(gen.below(uint64_t(V)));
  const int64_t pad = ids[0];
  auto dw = upload(w), dg = upload(g);
  auto dids = upload(ids);
  DeviceBuffer<D> out{size_t(n * Dm)};
  DeviceBuffer<float> gw{size_t(V * Dm)};
  DeviceBuffer<int> bad(1);
  bad.zero();
  K::embedding_forward<D>(dw.data(), dids.data(), out.data(), n, V, Dm, bad.data());
  K::embedding_backward<D>(dg.data(), dids.data(), gw.data(), n, V, Dm, pad, false);
  CHECK(bad.download()[0] == 0);
  compare<H>("embedding", {to_double(download<H>(out)), to_double(gw.download())}, [&](auto tag) {
    using T = decltype(tag);
    Tensor<T> wt = tensor<T>(w, {V, Dm}).set_requires_grad();
    Tensor<T> o = unigen::embedding(wt, Tensor<int64_t>::from_vector(ids, {n}), pad);
    o.backward(tensor<T>(g, {n, Dm}));
    return std::vector<std::vector<double>>{to_double(o.detach()), to_double(wt.grad())};
  });
}

template <class H>
void adamw_case(int64_t n) {
  using D = dev_elem_t<H>;
  std::vector<H> p = randn<H>(size_t(n), 61);
  std::vector<std::vector<H>> grads = {randn<H>(size_t(n), 62), randn<H>(size_t(n), 63), randn<H>(size_t(n), 64)};
  const unigen::optim::AdamWOptions o{1e-2, 0.9, 0.999, 1e-8, 0.1};
  auto dp = upload(p);
  DeviceBuffer<float> m{size_t(n)}, v{size_t(n)};
  m.zero();
  v.zero();
  for (size_t s = 0; s < grads.size(); ++s) {
    auto dg = upload(grads[s]);
    K::adamw_step<D>(dp.data(), dg.data(), m.data(), v.data(), n, int64_t(s + 1), float(o.lr), float(o.beta1),
                     float(o.beta2), float(o.eps), float(o.weight_decay));
  }
  compare<H>("adamw", {to_double(download<H>(dp))}, [&](auto tag) {
    using T = decltype(tag);
    Tensor<T> pt = tensor<T>(p, {n}).set_requires_grad();
    unigen::optim::AdamW<T> opt({pt}, o);
    for (const auto& g : grads) {
      opt.zero_grad();
      unigen::sum(unigen::mul(pt, tensor<T>(g, {n}))).backward();  // pt.grad() = g
      opt.step();
    }
    return std::vector<std::vector<double>>{to_double(pt.detach())};
  });
}

}  // namespace

// Paths (see kernels/softmax.cuh, launch_rows): n % 8 == 0 with aligned rows takes the register path
// (fp32: n % 4), a warp per row up to 1024 columns, a block up to 8192; everything else the general path.
//   general, warp: n 1, 37, 81; ld 1025 (odd stride); off 1 (misaligned pointer)
//   register, warp: 256 (fewer vectors than the maximum), 256 with ld 264, 1024 (all vectors)
//   register, block: 1032 and 1032 with ld 1040 (fewer vectors on some threads), 4096, 8192 (256 threads)
//   general, block: 2050 (n % 4 != 0), 4100 with ld 4101, 8200 (beyond the register path)
// bf16 with off 4 (8-byte aligned) takes the general path where fp32 takes the register path.
TEST_CASE("cuda softmax and log_softmax match the CPU", "[cuda][softmax]") {
  const RowLayout layouts[] = {{9, 1, 1, 0},       {9, 37, 37, 0},     {9, 81, 81, 0},       {9, 256, 256, 0},
                               {9, 256, 264, 0},   {9, 1024, 1024, 0}, {9, 1024, 1025, 0},   {9, 1024, 1024, 1},
                               {9, 1024, 1024, 4}, {9, 1032, 1032, 0}, {9, 1032, 1040, 0},   {9, 2050, 2050, 0},
                               {9, 4096, 4096, 0}, {9, 4100, 4101, 0}, {9, 8192, 8192, 0},   {9, 8200, 8200, 0}};
  for (bool log : {false, true})
    for (const RowLayout& L : layouts) {
      softmax_case<float>(L, log);
      softmax_case<unigen::bf16>(L, log);
    }
}

// Paths as for softmax: register warp 256, 768; register block 1032 with ld 1040, 4096, 8192 (and 2500 in
// fp32; bf16 2500 is general); general 7, 81, ld 1025, off 1, 8200. Null w and b on both paths.
TEST_CASE("cuda layer_norm matches the CPU", "[cuda][layer_norm]") {
  const RowLayout layouts[] = {{300, 7, 7, 0},       {300, 256, 256, 0},  {300, 768, 768, 0},  {300, 1024, 1025, 0},
                               {300, 1024, 1024, 1}, {300, 1032, 1040, 0}, {40, 2500, 2500, 0}, {40, 4096, 4096, 0},
                               {40, 8192, 8192, 0},  {40, 8200, 8200, 0}};
  for (const RowLayout& L : layouts) {
    layer_norm_case<float>(L);
    layer_norm_case<unigen::bf16>(L);
  }
  for (const RowLayout& L : {RowLayout{300, 768, 768, 0}, RowLayout{40, 4096, 4096, 0}, RowLayout{40, 81, 81, 0}}) {
    layer_norm_case<float>(L, false);
    layer_norm_case<unigen::bf16>(L, false);
  }
}

TEST_CASE("cuda gelu matches the CPU", "[cuda][gelu]") {
  gelu_case<float>(100001);
  gelu_case<unigen::bf16>(4099);
}

TEST_CASE("cuda cross_entropy matches the CPU", "[cuda][loss]") {
  for (auto red : {K::CeReduction::mean, K::CeReduction::sum, K::CeReduction::none}) {
    cross_entropy_case<float>(64, 50, 0.0, false, red);
    cross_entropy_case<float>(64, 50, 0.2, true, red);
    cross_entropy_case<float>(16, 3000, 0.1, false, red);
  }
  cross_entropy_case<unigen::bf16>(64, 50, 0.2, false, K::CeReduction::mean);
}

TEST_CASE("cuda embedding matches the CPU", "[cuda][embedding]") {
  embedding_case<float>(100, 64, 300);
  embedding_case<unigen::bf16>(50, 24, 100);
}

TEST_CASE("cuda adamw matches optim::AdamW", "[cuda][adamw]") {
  adamw_case<float>(10007);
  adamw_case<unigen::bf16>(1000);
}

TEST_CASE("cuda broadcast add/mul and reductions match the CPU", "[cuda][elementwise]") {
  std::vector<float> a = randn<float>(4 * 5, 71), b = randn<float>(3, 72);
  auto da = upload(a), db = upload(b);
  DeviceBuffer<float> out(4 * 3 * 5);
  K::BroadcastGeometry g;
  g.ndim = 3;
  const int64_t shape[3] = {4, 3, 5}, sa[3] = {5, 0, 1}, sb[3] = {0, 1, 0};
  for (int d = 0; d < 3; ++d) g.shape[d] = shape[d], g.sa[d] = sa[d], g.sb[d] = sb[d];
  const Tensor<float> at = tensor<float>(a, {4, 1, 5}), bt = tensor<float>(b, {3, 1});
  K::binary<float>(K::BinaryOp::add, da.data(), db.data(), out.data(), g);
  check_f32("broadcast add", to_double(out.download()), to_double(unigen::add(at, bt)));
  K::binary<float>(K::BinaryOp::mul, da.data(), db.data(), out.data(), g);
  check_f32("broadcast mul", to_double(out.download()), to_double(unigen::mul(at, bt)));

  const int64_t rows = 333, n = 517;
  std::vector<float> x = randn<float>(size_t(rows * n), 73);
  auto dx = upload(x);
  DeviceBuffer<float> rs{size_t(rows)}, cs{size_t(n)}, all(1);
  K::sum_rows<float>(dx.data(), n, rs.data(), rows, n);
  K::sum_cols<float>(dx.data(), n, cs.data(), rows, n);
  K::sum_all<float>(dx.data(), rows * n, all.data());
  const Tensor<float> xt = tensor<float>(x, {rows, n});
  check_f32("sum_rows", to_double(rs.download()), to_double(unigen::sum(xt, {1})));
  check_f32("sum_cols", to_double(cs.download()), to_double(unigen::sum(xt, {0})));
  check_f32("sum_all", to_double(all.download()), to_double(unigen::sum(xt)));
}

TEST_CASE("cuda kernels reject bad arguments and report bad ids", "[cuda][errors]") {
  DeviceBuffer<float> x(16), y(16);
  CHECK_THROWS_AS(K::softmax_forward<float>(x.data(), 2, y.data(), 4, 4, 4, false), unigen::Error);
  CHECK_THROWS_AS(K::layer_norm_forward<float>(x.data(), y.data(), nullptr, nullptr, nullptr, nullptr, 4, 4, 0, 1e-5f),
                  unigen::Error);
  auto ids = upload(std::vector<int64_t>{0, 5});
  DeviceBuffer<int> bad(1);
  bad.zero();
  K::embedding_forward<float>(x.data(), ids.data(), y.data(), 2, 4, 4, bad.data());
  CHECK(bad.download()[0] == 1);
}
