// Layers: shapes, parameter trees, masking semantics, and finite-difference checks of whole blocks.
#include <catch2/catch.hpp>

#include "unigen/unigen.hpp"

using namespace unigen;

TEST_CASE("a Transformer block has the expected parameters and shapes", "[nn]") {
  Generator g(1);
  nn::TransformerBlock<float> blk(32, 4, 64, g);
  auto names = blk.named_parameters();
  REQUIRE(names.size() == 12);
  REQUIRE(names[2].first == "attn.qkv.weight");
  // 2 LayerNorms (2·32 each) + qkv (32·96 + 96) + proj (32·32 + 32) + fc1 (32·64 + 64) + fc2 (64·32 + 32)
  REQUIRE(blk.num_parameters() == 2 * 64 + (32 * 96 + 96) + (32 * 32 + 32) + (32 * 64 + 64) + (64 * 32 + 32));
  auto x = Tensor<float>::randn({2, 5, 32}, g);
  REQUIRE(blk.forward(x).shape() == Shape{2, 5, 32});
  CHECK_THROWS_WITH(blk.forward(Tensor<float>::randn({2, 5, 31}, g)), Catch::Contains("[2, 5, 31]"));
  CHECK_THROWS_WITH(nn::MultiHeadAttention<float>(30, 4, g), Catch::Contains("30") && Catch::Contains("4 heads"));
}

TEST_CASE("causal attention: changing a later token leaves earlier outputs unchanged", "[nn]") {
  Generator g(2);
  nn::TransformerBlock<double> blk(16, 2, 32, g);
  blk.eval();
  auto x = Tensor<double>::randn({1, 6, 16}, g);
  auto y1 = blk.forward(x, {}, true);
  auto x2 = x.clone();
  {
    NoGrad ng;
    x2.select(1, 4).fill_(3.0);
  }
  auto y2 = blk.forward(x2, {}, true);
  for (int64_t t = 0; t < 4; ++t)
    for (int64_t c = 0; c < 16; ++c) REQUIRE(y1.at({0, t, c}) == Approx(y2.at({0, t, c})).epsilon(1e-12));
  REQUIRE(y1.at({0, 4, 0}) != Approx(y2.at({0, 4, 0})));
}

TEST_CASE("gradient check through a whole Transformer block", "[nn][gradcheck]") {
  Generator g(3);
  nn::TransformerBlock<double> blk(8, 2, 16, g);
  blk.eval();
  auto mask = Tensor<bool>::from_vector(std::vector<int>{1, 1, 0, 1, 1, 1, 0, 1, 1}, {3, 3});
  auto params = blk.parameters();
  std::vector<Tensor<double>> inputs{Tensor<double>::randn({2, 3, 8}, g), params[2], params[4]};
  auto r = gradcheck([&](const std::vector<Tensor<double>>& in) {
    blk.attn->qkv->weight = in[1];
    blk.attn->proj->weight = in[2];
    return blk.forward(in[0], mask);
  }, inputs);
  INFO(r.message);
  REQUIRE(r.ok);
}
