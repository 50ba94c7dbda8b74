// unigen-demo: trains a small MLP with unigen's autograd and AdamW to classify three interleaved
// spirals, printing the falling loss. Until the generation demo exists, this is the project's main job.
//   unigen-demo [--steps N] [--seed S]
#include <unigen/unigen.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

using namespace unigen;

// Three spirals of n points each: x: [3n, 2], labels: [3n].
static void spirals(int64_t n, Generator& g, Tensor<float>& x, Tensor<int64_t>& y) {
  x = Tensor<float>::empty({3 * n, 2});
  y = Tensor<int64_t>::empty({3 * n});
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < n; ++i) {
      double r = double(i) / double(n), t = 4.0 * r + 2.0 * M_PI * double(c) / 3.0 + 0.2 * g.normal();
      x.set({c * n + i, 0}, float(r * std::sin(t)));
      x.set({c * n + i, 1}, float(r * std::cos(t)));
      y.set({c * n + i}, c);
    }
}

int main(int argc, char** argv) {
  int64_t steps = 600, seed = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--steps" || a == "--seed") && i + 1 < argc) {
      (a == "--steps" ? steps : seed) = std::atoll(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: unigen-demo [--steps N] [--seed S]\n");
      return 2;
    }
  }
  if (steps < 1) {
    std::fprintf(stderr, "unigen-demo: --steps must be at least 1\n");
    return 2;
  }
  Generator g(static_cast<uint64_t>(seed));
  Tensor<float> x, xt;
  Tensor<int64_t> y, yt;
  spirals(200, g, x, y);
  spirals(100, g, xt, yt);

  const int64_t h = 64;
  auto init = [&](Shape s, double fan_in) { return Tensor<float>::randn(s, g, 0.0, 1.0 / std::sqrt(fan_in)).set_requires_grad(); };
  Tensor<float> w1 = init({h, 2}, 2), b1 = Tensor<float>::zeros({h}).set_requires_grad();
  Tensor<float> w2 = init({h, h}, double(h)), b2 = Tensor<float>::zeros({h}).set_requires_grad();
  Tensor<float> w3 = init({3, h}, double(h)), b3 = Tensor<float>::zeros({3}).set_requires_grad();
  std::vector<Tensor<float>> params{w1, b1, w2, b2, w3, b3};
  auto model = [&](const Tensor<float>& in) { return linear(gelu(linear(gelu(linear(in, w1, b1)), w2, b2)), w3, b3); };

  optim::AdamW<float> opt(params, {1e-2, 0.9, 0.999, 1e-8, 1e-4});
  optim::WarmupCosine lr{1e-2, steps / 20 + 1, steps, 1e-4};
  std::printf("unigen-demo: 3-class spirals, MLP 2-%lld-%lld-3, %lld steps of AdamW\n", (long long)h, (long long)h,
              (long long)steps);
  for (int64_t s = 0; s < steps; ++s) {
    opt.set_lr(lr(s));
    opt.zero_grad();
    Tensor<float> loss = cross_entropy(model(x), y);
    loss.backward();
    optim::clip_grad_norm(params, 1.0);
    opt.step();
    if (s % (steps / 10 > 0 ? steps / 10 : 1) == 0 || s + 1 == steps) {
      NoGrad ng;
      Tensor<int64_t> pred = argmax(model(xt), -1);
      int64_t right = 0;
      for (int64_t i = 0; i < yt.numel(); ++i) right += pred.at({i}) == yt.at({i});
      std::printf("step %5lld  loss %.4f  held-out accuracy %.3f\n", (long long)s + 1, double(loss.item()),
                  double(right) / double(yt.numel()));
    }
  }
  return 0;
}
