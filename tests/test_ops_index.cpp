// Gradient checks, forward values and errors for the join ops (concat, stack, split, chunk) and the
// indexing ops (index_select, gather, scatter_add, one_hot, embedding).
#include "op_table.hpp"
#include "unigen/ops/elementwise.hpp"
#include "unigen/ops/index.hpp"
#include "unigen/ops/join.hpp"

using namespace unigen;
using testing::Inputs;
using testing::OpCase;

namespace {
Tensor<int64_t> ints(std::vector<int64_t> v, Shape s) { return Tensor<int64_t>::from_vector(v, s); }
Tensor<float> floats(std::vector<float> v, Shape s) { return Tensor<float>::from_vector(v, s); }
// Random indices in [0, n) that are the same on every call (gradcheck calls f many times).
Tensor<int64_t> fixed_indices(int64_t n, Shape s, uint64_t seed = 7) {
  Generator g(seed);
  return Tensor<int64_t>::randint(0, n, s, g);
}
}  // namespace

TEST_CASE("gradient check: concat, stack, split, chunk", "[gradcheck]") {
  std::vector<OpCase> rows = {
      {"concat dim 1", {{-1, -2, -3}, {-1, 2, -3}, {-1, 1, -3}},
       [](const Inputs& x) { return concat(std::vector{x[0], x[1], x[2]}, 1); }},
      {"concat dim -1", {{-1, -2}, {-1, -3}}, [](const Inputs& x) { return concat(std::vector{x[0], x[1]}, -1); }},
      {"concat same input twice", {{-1, -2}}, [](const Inputs& x) { return concat(std::vector{x[0], x[0] * 2.0}, 0); }},
      {"stack dim 0", {{-1, -2}, {-1, -2}, {-1, -2}},
       [](const Inputs& x) { return stack(std::vector{x[0], x[1], x[2]}, 0); }},
      {"stack new last dim", {{-1, -2}, {-1, -2}}, [](const Inputs& x) { return stack(std::vector{x[0], exp(x[1])}, -1); }},
      {"split size", {{-1, 5, -2}},
       [](const Inputs& x) {
         auto p = split(x[0], 2, 1);
         return exp(p[0]) * p[1] + p[2];
       }},
      {"split sizes", {{6, -1}},
       [](const Inputs& x) {
         auto p = split(x[0], {1, 3, 2}, 0);
         return concat(std::vector{p[2] * p[2], exp(p[0]), p[1]}, 0);
       }},
      {"chunk", {{-1, 7}},
       [](const Inputs& x) {
         auto p = chunk(x[0], 3, -1);
         return p[0] * p[1] + exp(p[2]);
       }},
  };
  testing::run_gradcheck_table(rows);
}

TEST_CASE("gradient check: index_select, gather, scatter_add, embedding", "[gradcheck]") {
  std::vector<OpCase> rows = {
      {"index_select dim 1 (repeats)", {{-1, 4, -2}},
       [](const Inputs& x) { return index_select(x[0], 1, ints({3, 0, 3, 1}, {4})); }},
      {"index_select dim 0", {{5, -1}}, [](const Inputs& x) { return index_select(x[0], 0, ints({4, 4, 0}, {3})); }},
      {"gather dim 1", {{-1, 4, -2}},
       [](const Inputs& x) { return gather(x[0], 1, fixed_indices(4, {x[0].size(0), 3, x[0].size(2)})); }},
      {"gather dim 0, index smaller than input", {{3, -1}},
       [](const Inputs& x) { return gather(x[0], 0, fixed_indices(3, {5, 1})); }},
      {"scatter_add dim 1 (both inputs)", {{-1, 4, -2}, {-1, 3, -2}},
       [](const Inputs& x) { return scatter_add(x[0], 1, fixed_indices(4, x[1].shape()), x[1]); }},
      {"scatter_add dim 0, source larger than index", {{4, 3}, {5, 4}},
       [](const Inputs& x) { return scatter_add(x[0], 0, fixed_indices(4, {2, 3}), x[1]); }},
      {"embedding (repeated ids)", {{6, -1}},
       [](const Inputs& x) { return embedding(x[0], ints({1, 5, 1, 0, 1, 3}, {2, 3})); }},
      {"embedding padding_idx (pad positions masked out)", {{5, -1}},
       [](const Inputs& x) {
         auto ids = ints({2, 0, 4, 0, 0, 2}, {3, 2});
         auto keep = Tensor<double>::from_vector(std::vector<double>{1, 0, 1, 0, 0, 1}, {3, 2, 1});
         return embedding(x[0], ids, 0) * keep;
       }},
  };
  testing::run_gradcheck_table(rows);
}

TEST_CASE("concat and stack: forward values", "[join]") {
  auto a = floats({1, 2, 3, 4}, {2, 2});
  CHECK(concat(std::vector{a, floats({5, 6}, {2, 1})}, 1).to_vector() == std::vector<float>{1, 2, 5, 3, 4, 6});
  auto c0 = concat(std::vector{a, floats({5, 6}, {1, 2})}, 0);
  CHECK(c0.shape() == Shape{3, 2});
  CHECK(c0.to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
  // A transposed (non-contiguous) input is read in its logical order.
  CHECK(concat(std::vector{a.mT(), a}, 1).to_vector() == std::vector<float>{1, 3, 1, 2, 2, 4, 3, 4});
  CHECK(concat(std::vector{ints({1, 2}, {2}), ints({}, {0}), ints({3}, {1})}).to_vector() ==
        std::vector<int64_t>{1, 2, 3});

  auto s0 = stack(std::vector{floats({1, 2}, {2}), floats({3, 4}, {2})}, 0);
  CHECK(s0.shape() == Shape{2, 2});
  CHECK(s0.to_vector() == std::vector<float>{1, 2, 3, 4});
  auto s1 = stack(std::vector{floats({1, 2}, {2}), floats({3, 4}, {2})}, 1);
  CHECK(s1.to_vector() == std::vector<float>{1, 3, 2, 4});
  CHECK(stack(std::vector{a, a, a}, -1).shape() == Shape{2, 2, 3});

  // Gradients reach only the inputs that require them, each its own slice.
  auto x = floats({1, 2}, {1, 2}), y = floats({3, 4, 5, 6}, {2, 2});
  x.set_requires_grad();
  auto z = concat(std::vector{x, y}, 0);
  z.backward(floats({10, 20, 30, 40, 50, 60}, {3, 2}));
  CHECK(x.grad().to_vector() == std::vector<float>{10, 20});
  CHECK_FALSE(y.grad().defined());

  auto h = stack(std::vector{Tensor<bf16>::full({2}, 1.5), Tensor<bf16>::full({2}, -2.0)}, 1);
  CHECK(float(h.at({1, 1})) == -2.0f);
}

TEST_CASE("split and chunk: views with the right sizes", "[join]") {
  auto x = Tensor<float>::arange(10);
  auto p = split(x, 4);
  REQUIRE(p.size() == 3);
  CHECK(p[0].to_vector() == std::vector<float>{0, 1, 2, 3});
  CHECK(p[2].to_vector() == std::vector<float>{8, 9});
  CHECK(p[1].shares_storage(x));
  auto q = split(x, {3, 0, 7});
  REQUIRE(q.size() == 3);
  CHECK(q[1].numel() == 0);
  CHECK(q[2].to_vector() == std::vector<float>{3, 4, 5, 6, 7, 8, 9});

  auto m = Tensor<float>::arange(12).reshape({3, 4});
  auto c = chunk(m, 2, 1);
  REQUIRE(c.size() == 2);
  CHECK(c[1].to_vector() == std::vector<float>{2, 3, 6, 7, 10, 11});
  CHECK(chunk(Tensor<float>::arange(10), 3).size() == 3);  // 4, 4, 2
  CHECK(chunk(Tensor<float>::arange(6), 4).size() == 3);   // 2, 2, 2: as in PyTorch, fewer than asked
  CHECK(chunk(Tensor<float>::arange(2), 5).size() == 2);
}

TEST_CASE("index_select, gather, scatter_add, one_hot: forward values", "[index]") {
  auto x = floats({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(index_select(x, 1, ints({2, 0, 2}, {3})).to_vector() == std::vector<float>{3, 1, 3, 6, 4, 6});
  CHECK(index_select(x, 0, ints({1}, {1})).to_vector() == std::vector<float>{4, 5, 6});
  CHECK(index_select(x.mT(), 0, ints({2, 0}, {2})).to_vector() == std::vector<float>{3, 6, 1, 4});
  CHECK(index_select(x, -1, ints({}, {0})).shape() == Shape{2, 0});

  auto g = floats({1, 2, 3, 4}, {2, 2});
  CHECK(gather(g, 1, ints({0, 0, 1, 0}, {2, 2})).to_vector() == std::vector<float>{1, 1, 4, 3});
  CHECK(gather(g, 0, ints({1, 0}, {1, 2})).to_vector() == std::vector<float>{3, 2});
  CHECK(gather(g.mT(), 1, ints({1, 1}, {2, 1})).to_vector() == std::vector<float>{3, 4});

  auto src = Tensor<float>::ones({2, 5});
  auto idx = ints({0, 1, 2, 0, 0, 2, 0, 0, 1, 2}, {2, 5});
  auto s = scatter_add(Tensor<float>::zeros({3, 5}), 0, idx, src);
  CHECK(s.to_vector() == std::vector<float>{1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1});
  auto s1 = scatter_add(floats({10, 20, 30}, {1, 3}), 1, ints({2, 2}, {1, 2}), floats({1, 2, 100}, {1, 3}));
  CHECK(s1.to_vector() == std::vector<float>{10, 20, 33});

  auto oh = one_hot<float>(ints({2, 0, 1, 2}, {2, 2}), 3);
  CHECK(oh.shape() == Shape{2, 2, 3});
  CHECK(oh.to_vector() == std::vector<float>{0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1});
  CHECK(one_hot<int64_t>(ints({1}, {}), 2).to_vector() == std::vector<int64_t>{0, 1});
  CHECK_FALSE(one_hot<double>(ints({0}, {1}), 2).requires_grad());
}

TEST_CASE("embedding: rows, gradient counts, padding_idx", "[index]") {
  auto w = Tensor<float>::arange(12).reshape({4, 3});
  w.set_requires_grad();
  auto ids = ints({3, 0, 1, 3}, {2, 2});
  auto e = embedding(w, ids);
  CHECK(e.shape() == Shape{2, 2, 3});
  CHECK(e.to_vector() == std::vector<float>{9, 10, 11, 0, 1, 2, 3, 4, 5, 9, 10, 11});
  e.backward(Tensor<float>::ones(e.shape()));
  CHECK(w.grad().to_vector() == std::vector<float>{1, 1, 1, 1, 1, 1, 0, 0, 0, 2, 2, 2});

  w.zero_grad();
  auto ep = embedding(w, ids, 3);
  CHECK(ep.to_vector() == e.to_vector());
  ep.backward(Tensor<float>::ones(ep.shape()));
  CHECK(w.grad().to_vector() == std::vector<float>{1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0});

  CHECK(embedding(w.detach(), ints({2}, {})).to_vector() == std::vector<float>{6, 7, 8});
  auto wb = Tensor<bf16>::randn({50, 8});
  auto eb = embedding(wb, ints({49, 7}, {2}));
  CHECK(float(eb.at({0, 5})) == float(wb.at({49, 5})));

  // Large enough to take the parallel path.
  Generator gen(3);
  auto big = Tensor<float>::randn({1000, 64}, gen);
  auto many = Tensor<int64_t>::randint(0, 1000, {16, 64}, gen);
  auto out = embedding(big, many);
  CHECK(out.at({15, 63, 7}) == big.at({many.at({15, 63}), 7}));
}

TEST_CASE("join and index ops: errors name the op and the shapes", "[errors]") {
  auto a = Tensor<float>::zeros({2, 3}), b = Tensor<float>::zeros({3, 2});
  using Catch::Contains;
  CHECK_THROWS_WITH(concat(std::vector{a, b}, 0), Contains("concat") && Contains("[3, 2]") && Contains("[2, 3]"));
  CHECK_THROWS_WITH(concat(std::vector{a, Tensor<float>::zeros({2, 3, 1})}, 0), Contains("concat") && Contains("[2, 3, 1]"));
  CHECK_THROWS_WITH(concat(std::vector{a, a}, 2), Contains("concat") && Contains("dim 2"));
  CHECK_THROWS_WITH(concat(std::vector<Tensor<float>>{}, 0), Contains("concat"));
  CHECK_THROWS_AS(concat(std::vector{Tensor<float>::scalar(1)}, 0), Error);
  CHECK_THROWS_WITH(stack(std::vector{a, b}), Contains("stack") && Contains("[3, 2]"));
  CHECK_THROWS_WITH(stack(std::vector{a, a}, 3), Contains("stack") && Contains("dim 3"));

  CHECK_THROWS_WITH(split(a, {1, 1}, 1), Contains("split") && Contains("[1, 1]") && Contains("[2, 3]"));
  CHECK_THROWS_WITH(split(a, {4, -1}, 1), Contains("split") && Contains("negative"));
  CHECK_THROWS_WITH(split(a, 0, 1), Contains("split") && Contains("[2, 3]"));
  CHECK_THROWS_WITH(split(a, 1, -3), Contains("split") && Contains("dim -3"));
  CHECK_THROWS_WITH(chunk(a, 0, 1), Contains("chunk") && Contains("[2, 3]"));

  CHECK_THROWS_WITH(index_select(a, 1, ints({0, 3}, {2})),
                    Contains("index_select") && Contains("index 3") && Contains("size 3") && Contains("[2, 3]"));
  CHECK_THROWS_WITH(index_select(a, 0, ints({-1}, {1})), Contains("index_select") && Contains("index -1"));
  CHECK_THROWS_WITH(index_select(a, 0, ints({0, 1}, {1, 2})), Contains("index_select") && Contains("[1, 2]"));
  CHECK_THROWS_WITH(index_select(a, 2, ints({0}, {1})), Contains("index_select") && Contains("dim 2"));

  CHECK_THROWS_WITH(gather(a, 1, ints({0, 5}, {1, 2})), Contains("gather") && Contains("index 5") && Contains("size 3"));
  CHECK_THROWS_WITH(gather(a, 1, ints({0, 0}, {2})), Contains("gather") && Contains("[2]") && Contains("[2, 3]"));
  CHECK_THROWS_WITH(gather(a, 1, ints({0, 0, 0}, {3, 1})), Contains("gather") && Contains("[3, 1]"));

  auto src = Tensor<float>::ones({2, 2});
  CHECK_THROWS_WITH(scatter_add(a, 1, ints({0, 1, 2, 3}, {2, 2}), src),
                    Contains("scatter_add") && Contains("index 3") && Contains("size 3"));
  CHECK_THROWS_WITH(scatter_add(a, 1, ints({0, 1, 2}, {1, 3}), src), Contains("scatter_add") && Contains("[2, 2]"));
  CHECK_THROWS_WITH(scatter_add(a, 0, ints({0, 1}, {1, 2}), Tensor<float>::ones({2})),
                    Contains("scatter_add") && Contains("[2]"));

  CHECK_THROWS_WITH(one_hot<float>(ints({0, 3}, {2}), 3), Contains("one_hot") && Contains("index 3"));
  CHECK_THROWS_WITH(one_hot<float>(ints({0}, {1}), 0), Contains("one_hot") && Contains("num_classes 0"));

  auto w = Tensor<float>::zeros({4, 3});
  CHECK_THROWS_WITH(embedding(w, ints({1, 4}, {2})),
                    Contains("embedding") && Contains("index 4") && Contains("size 4") && Contains("[4, 3]"));
  CHECK_THROWS_WITH(embedding(Tensor<float>::zeros({4}), ints({1}, {1})), Contains("embedding") && Contains("[4]"));
  CHECK_THROWS_WITH(embedding(w, ints({1}, {1}), 4), Contains("embedding") && Contains("padding_idx 4"));
}
