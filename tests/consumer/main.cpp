// Built against the installed package: one gradient step must lower a quadratic.
#include <unigen/unigen.hpp>

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
  return after < loss.item() ? 0 : 1;
}
