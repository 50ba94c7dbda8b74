// Built against the installed package with the compiler's default flags: one gradient step must lower a
// quadratic, and GELU (whose row kernels pick their vector kind at run time) must give x·Φ(x).
#include <unigen/unigen.hpp>

#include <cmath>
#include <iostream>

int main() {
  using namespace unigen;
  auto w = Tensor<float>::full({3}, 2.0).set_requires_grad();
  auto loss = sum(w * w);
  loss.backward();
  {
    NoGrad ng;
    w.add_(w.grad(), -0.25);
  }
  float after = sum(w * w).item();
  std::cout << "consumer: loss " << loss.item() << " -> " << after << "\n";
  const float g = gelu(Tensor<float>::full({37}, 1.0)).to_vector()[36];  // Φ(1) = 0.841345
  std::cout << "consumer: gelu(1) = " << g << " (GEMM kernel " << cpu::cpu_kernel_name() << ", row kernels "
            << cpu::row_kernel_name() << ")\n";
  return after < loss.item() && std::abs(g - 0.841345f) < 1e-5f ? 0 : 1;
}
