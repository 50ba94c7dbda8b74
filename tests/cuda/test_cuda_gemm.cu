// The CUDA GEMMs (hand-written SIMT fp32, tensor-core bf16/fp16, and the cuBLAS baseline) against
// plain CPU loops: every transpose combination, strided batches, alpha/beta, bias and GELU.
#include "cuda_test_util.hpp"
#include "kernels/gemm.cuh"

using namespace cutest;

namespace {

struct GemmCase {
  bool ta, tb;
  int64_t M, N, K, batch;
  float alpha, beta;
  bool bias, gelu;
  bool share_b = false;  // batch stride of B 0: every slice multiplies the same B
};

// C[b] = gelu?(alpha·op(A)·op(B) + beta·C + bias) in double, or with the product accumulated in float
// and the output rounded to H (round_out) as a CPU computing in H would.
template <class H>
std::vector<double> ref_gemm(const GemmCase& c, const std::vector<double>& A, int64_t lda, int64_t sA,
                             const std::vector<double>& B, int64_t ldb, int64_t sB, std::vector<double> C, int64_t ldc,
                             int64_t sC, const std::vector<double>& bias, bool lowp) {
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t m = 0; m < c.M; ++m)
      for (int64_t n = 0; n < c.N; ++n) {
        double acc = 0;
        float accf = 0;
        for (int64_t k = 0; k < c.K; ++k) {
          const double a = A[size_t(b * sA + (c.ta ? k * lda + m : m * lda + k))];
          const double x = B[size_t(b * sB + (c.tb ? n * ldb + k : k * ldb + n))];
          acc += a * x;
          accf += float(a) * float(x);
        }
        double& out = C[size_t(b * sC + m * ldc + n)];
        double v = c.alpha * (lowp ? double(accf) : acc) + (c.beta != 0 ? c.beta * out : 0.0);
        if (c.bias) v += bias[size_t(n)];
        if (c.gelu) v = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
        out = lowp ? double(float(H(float(v)))) : v;
      }
  return C;
}

// Runs one case on the GPU with inputs from `make` and checks it; `exact` compares exactly (small integers).
template <class H, class Make>
void run_case(const GemmCase& c, K::GemmImpl impl, Make make, bool exact) {
  using D = dev_elem_t<H>;
  const int64_t a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K;
  const int64_t b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N;
  // Leading dims padded by a few columns (odd padding for fp32 so the unaligned load path runs too).
  const int64_t lda = a_cols + (std::is_same_v<H, float> ? 3 : 8), ldb = b_cols + 8, ldc = c.N + 5;
  const int64_t sA = a_rows * lda + 8, sB = c.share_b ? 0 : b_rows * ldb + 16, sC = c.M * ldc + 3;
  std::vector<H> A = make(size_t(c.batch * sA), 1), B = make(size_t(std::max(c.batch * sB, b_rows * ldb)), 2),
                 C = make(size_t(c.batch * sC), 3),
                 bias = make(size_t(c.N), 4);
  auto dA = upload(A), dB = upload(B), dC = upload(C), dbias = upload(bias);
  K::gemm<D>(c.ta, c.tb, c.M, c.N, c.K, c.alpha, dA.data(), lda, sA, dB.data(), ldb, sB, c.beta, dC.data(), ldc, sC,
             c.batch, c.bias ? dbias.data() : nullptr, c.gelu, unigen::cuda::current_stream(), impl);
  std::vector<double> got = to_double(download<H>(dC));
  auto Ad = to_double(A), Bd = to_double(B), Cd = to_double(C), biasd = to_double(bias);
  std::vector<double> ref = ref_gemm<H>(c, Ad, lda, sA, Bd, ldb, sB, Cd, ldc, sC, biasd, false);
  // Only the written elements count: the padding of C must be untouched, so it is compared too.
  INFO("impl " << (impl == K::GemmImpl::cublas ? "cublas" : "hand") << ", ta " << c.ta << ", tb " << c.tb << ", M "
               << c.M << ", N " << c.N << ", K " << c.K << ", batch " << c.batch << ", alpha " << c.alpha << ", beta "
               << c.beta << ", bias " << c.bias << ", gelu " << c.gelu);
  if (exact) check_exact("gemm (small integers)", got, ref);
  else if (std::is_same_v<H, float>) check_f32("gemm fp32", got, ref);
  else check_lowp("gemm 16-bit", got, ref_gemm<H>(c, Ad, lda, sA, Bd, ldb, sB, Cd, ldc, sC, biasd, true), ref);
}

std::vector<GemmCase> cases() {
  std::vector<GemmCase> r;
  const int64_t shapes[][3] = {{1, 1, 1}, {17, 33, 45}, {128, 128, 32}, {130, 257, 70}, {64, 8, 300}, {256, 192, 512}};
  for (int t = 0; t < 4; ++t)
    for (auto& s : shapes) r.push_back({bool(t & 1), bool(t & 2), s[0], s[1], s[2], 1, 1.f, 0.f, false, false});
  for (int t = 0; t < 4; ++t) r.push_back({bool(t & 1), bool(t & 2), 70, 90, 100, 3, 0.5f, 0.25f, true, false});
  r.push_back({false, true, 129, 65, 64, 2, 1.f, 0.f, true, true});
  r.push_back({false, false, 33, 40, 0, 1, 1.f, 1.f, true, false});  // K = 0: C = beta·C + bias
  return r;
}

// Shapes whose operand rows are 16-byte aligned in run_case (M, N, K multiples of 8), so 16-bit GEMMs
// take the wgmma kernel on sm_90: single and several tiles, partial tiles in M, N and K, both tile widths.
std::vector<GemmCase> aligned_cases() {
  std::vector<GemmCase> r;
  const int64_t shapes[][4] = {{128, 128, 64, 1}, {136, 264, 200, 1}, {64, 520, 72, 2}, {384, 256, 1024, 1}};
  for (int t = 0; t < 4; ++t)
    for (auto& s : shapes) r.push_back({bool(t & 1), bool(t & 2), s[0], s[1], s[2], s[3], 1.f, 0.f, false, false});
  for (int t = 0; t < 4; ++t) r.push_back({bool(t & 1), bool(t & 2), 72, 96, 40, 3, 0.5f, 0.25f, true, true});
  for (int t = 0; t < 4; ++t) r.push_back({bool(t & 1), bool(t & 2), 64, 136, 96, 3, 1.f, 0.f, false, false, true});
  r.push_back({false, false, 32, 40, 0, 1, 1.f, 1.f, true, false});  // K = 0
  return r;
}

template <class H>
void gemm_suite(K::GemmImpl impl, const std::vector<GemmCase>& cs = cases()) {
  for (const GemmCase& c : cs)
    run_case<H>(c, impl, [](size_t n, uint64_t seed) { return randn<H>(n, seed); }, false);
}

template <class H>
void gemm_integer_suite(K::GemmImpl impl, int range, int64_t K, int64_t M = 150, int64_t N = 140) {
  for (int t = 0; t < 4; ++t) {
    GemmCase c{bool(t & 1), bool(t & 2), M, N, K, 2, 1.f, 0.f, false, false};
    run_case<H>(c, impl, [range](size_t n, uint64_t seed) { return randint<H>(n, seed, -range, range); }, true);
  }
}

// True on a device of compute capability 9 (where the wgmma kernel must be the one that runs).
bool is_sm90() { return unigen::cuda::device_info(0).major == 9; }

}  // namespace

TEST_CASE("cuda gemm fp32 (SIMT) matches the CPU", "[cuda][gemm]") { gemm_suite<float>(K::GemmImpl::hand); }
TEST_CASE("cuda gemm bf16 (mma.sync) matches the CPU", "[cuda][gemm]") {
  gemm_suite<unigen::bf16>(K::GemmImpl::mma);
  gemm_suite<unigen::bf16>(K::GemmImpl::mma, aligned_cases());
}
TEST_CASE("cuda gemm fp16 (mma.sync) matches the CPU", "[cuda][gemm]") { gemm_suite<unigen::f16>(K::GemmImpl::mma); }

TEST_CASE("cuda gemm bf16/fp16 (best hand kernel: wgmma on sm_90) matches the CPU", "[cuda][gemm][wgmma]") {
  // On sm_90 the aligned shapes must run on wgmma.
  if (is_sm90()) {
    CHECK(K::gemm_kernel_for<K::bf16_t>(K::GemmImpl::hand, true, true) == K::GemmKernel::wgmma);
    CHECK(K::gemm_kernel_for<K::f16_t>(K::GemmImpl::hand, true, false) == K::GemmKernel::mma);
  }
  gemm_suite<unigen::bf16>(K::GemmImpl::hand, aligned_cases());
  gemm_suite<unigen::f16>(K::GemmImpl::hand, aligned_cases());
  gemm_suite<unigen::bf16>(K::GemmImpl::hand);  // unaligned shapes fall back to mma.sync
  // More tiles than an H100/H200 has multiprocessors (33 x 8 = 264 > 132): each block of the persistent
  // kernel takes several tiles, and its ring carries over from one tile to the next. All transposes.
  for (int t = 0; t < 4; ++t)
    run_case<unigen::bf16>({bool(t & 1), bool(t & 2), 4224, 1024, 200, 1, 1.f, 0.f, false, false}, K::GemmImpl::hand,
                           [](size_t n, uint64_t seed) { return randn<unigen::bf16>(n, seed); }, false);
}

TEST_CASE("cuda gemm cuBLAS baseline matches the CPU", "[cuda][gemm][cublas]") {
  gemm_suite<float>(K::GemmImpl::cublas);
  gemm_suite<unigen::bf16>(K::GemmImpl::cublas);
}

TEST_CASE("cuda gemm with small integers is exact", "[cuda][gemm]") {
  gemm_integer_suite<float>(K::GemmImpl::hand, 3, 300);        // |C| <= 2700 < 2^24
  gemm_integer_suite<unigen::bf16>(K::GemmImpl::mma, 1, 250);  // |C| <= 250 < 2^8
  gemm_integer_suite<unigen::f16>(K::GemmImpl::mma, 2, 500);   // |C| <= 2000 < 2^11
  // Aligned shapes: the wgmma kernel on sm_90.
  gemm_integer_suite<unigen::bf16>(K::GemmImpl::hand, 1, 248, 152, 264);
  gemm_integer_suite<unigen::f16>(K::GemmImpl::hand, 2, 504, 152, 264);
}

TEST_CASE("cuda gemm matches unigen::matmul on Tensors", "[cuda][gemm]") {
  unigen::Generator g(7);
  auto a = unigen::Tensor<float>::randn({96, 80}, g), b = unigen::Tensor<float>::randn({80, 72}, g);
  auto ref = to_double(unigen::matmul(a, b));
  auto da = upload(a.contiguous().to_vector()), db = upload(b.contiguous().to_vector());
  DeviceBuffer<float> dc(96 * 72);
  K::gemm<float>(false, false, 96, 72, 80, 1.f, da.data(), 80, 0, db.data(), 72, 0, 0.f, dc.data(), 72, 0);
  check_f32("gemm vs matmul", to_double(download<float>(dc)), ref);
}

TEST_CASE("cuda gemm rejects bad arguments with unigen::Error", "[cuda][gemm]") {
  DeviceBuffer<float> a(16), b(16), c(16);
  CHECK_THROWS_AS(K::gemm<float>(false, false, 4, 4, 4, 1.f, a.data(), 2, 0, b.data(), 4, 0, 0.f, c.data(), 4, 0),
                  unigen::Error);
  CHECK_THROWS_AS(K::gemm<float>(false, false, -1, 4, 4, 1.f, a.data(), 4, 0, b.data(), 4, 0, 0.f, c.data(), 4, 0),
                  unigen::Error);
}
