// One training step of the tiny config's Transformer stack on the CPU: 4 blocks of d 256, 4 heads,
// FFN 1024 (dropout 0.1, training mode) on random input [32, 81, 256] with the I→T prefix mask (64 image
// cells see each other, 17 text tokens causal), a linear head to 1024 classes and cross-entropy, then
// backward and an AdamW update. Name: step/tiny/<threads>; counter tokens_per_s (32·81 tokens a step).
#include <benchmark/benchmark.h>
#include <omp.h>

#include <memory>
#include <vector>

#include "unigen/unigen.hpp"

namespace {

using namespace unigen;

// state.range(0): OpenMP threads.
void bm_step(benchmark::State& st) {
  const int64_t B = 32, T = 81, img = 64, d = 256, heads = 4, ffn = 1024, layers = 4, V = 1024;
  omp_set_num_threads(int(st.range(0)));
  Generator gen(3);
  std::vector<std::shared_ptr<nn::TransformerBlock<float>>> blocks;
  std::vector<Tensor<float>> params;
  for (int64_t l = 0; l < layers; ++l) {
    blocks.push_back(std::make_shared<nn::TransformerBlock<float>>(d, heads, ffn, gen));
    for (auto& p : blocks.back()->parameters()) params.push_back(p);
  }
  nn::Linear<float> head(d, V, gen);
  for (auto& p : head.parameters()) params.push_back(p);
  optim::AdamW<float> opt(params, {3e-4, 0.9, 0.999, 1e-8, 0.01});
  auto x = Tensor<float>::randn({B, T, d}, gen);
  auto target = Tensor<int64_t>::randint(0, V, {B, T}, gen);
  auto mask = Tensor<bool>::empty({T, T});
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < T; ++j) mask.data()[i * T + j] = j < img || j <= i;
  for (auto _ : st) {
    opt.zero_grad();
    Tensor<float> h = x;
    for (auto& b : blocks) h = b->forward(h, mask);
    auto loss = cross_entropy(head.forward(h), target);
    loss.backward();
    opt.step();
    benchmark::DoNotOptimize(loss.item());
  }
  st.counters["tokens_per_s"] = benchmark::Counter(double(B * T) * double(st.iterations()), benchmark::Counter::kIsRate);
  omp_set_num_threads(omp_get_num_procs());
}

}  // namespace

BENCHMARK(bm_step)->Name("step/tiny")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // which kernels ran: the GEMM's family and the vector kind of the dispatched row kernels
  benchmark::AddCustomContext("unigen_kernel", unigen::cpu::cpu_kernel_name());
  benchmark::AddCustomContext("unigen_row_kernels", unigen::cpu::row_kernel_name());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
