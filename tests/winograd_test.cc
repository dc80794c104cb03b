// Winograd F(2x2,3x3) on oneDNN's matmul (layers/winograd.h) against the naive convolution,
// on every machine; and an inference graph's wide 3x3 convolution, which runs it where oneDNN
// has no Winograd kernel (the suite's AVX2 pass) and oneDNN's own elsewhere.
#include <catch2/catch.hpp>

#include <cmath>

#include "framework/graph.h"
#include "layers/winograd.h"
#include "tests/reference.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

namespace {

Array relu(Array a) {
  for (double& v : a.data) v = std::max(v, 0.0);
  return a;
}

}  // namespace

TEST_CASE("Winograd on matmul matches the naive convolution", "[conv][winograd]") {
  // 65 images: a pass of 64 and a tail of 1; odd and even sides cut the edge tiles both ways.
  const bool bias = GENERATE(true, false);
  const bool blocked_input = GENERATE(true, false);
  const bool fused_relu = GENERATE(true, false);
  INFO("bias " << bias << ", blocked input " << blocked_input << ", ReLU " << fused_relu);
  const Shape x_shape{65, 16, 7, 6};
  const int64_t outputs = 24;
  REQUIRE(WinogradConv::fits(x_shape, outputs));
  REQUIRE_FALSE(WinogradConv::fits({65, 12, 7, 6}, outputs));

  Tensor x(x_shape), w({outputs, 16, 3, 3}), b({outputs});
  x.assign_plain(random_tensor(x_shape, 1));
  w.assign_plain(random_tensor(w.shape(), 2));
  b.assign_plain(random_tensor(b.shape(), 3));
  if (blocked_input) {  // as a layer before it would hand it over
    Tensor blocked;
    blocked.reshape(x_shape, dnn::layout_of(dnn::memory::desc(dnn::dims(x_shape), dnn::memory::data_type::f32,
                                                              dnn::memory::format_tag::nChw8c)));
    blocked.assign_plain(random_tensor(x_shape, 1));
    x = std::move(blocked);
  }
  WinogradConv conv;
  conv.init(dnn::desc_of(x), outputs, fused_relu ? std::optional<PostOp>(PostOp()) : std::nullopt);
  Tensor y;
  y.reshape(conv.output_shape(), conv.output_layout());
  conv.forward(x, w, bias ? &b : nullptr, y);

  const Array b_ref = to_array(b);
  Array ref = conv_ref(to_array(x), to_array(w), bias ? &b_ref : nullptr, 1, 1);
  if (fused_relu) ref = relu(std::move(ref));
  REQUIRE(y.shape() == ref.shape);
  CHECK(max_relative_error(y, ref) < 1e-5);
}

TEST_CASE("an inference graph's wide 3x3 convolution matches the naive reference", "[conv][winograd]") {
  // 64 channels in and out and a batch of 32 or more: Winograd in an inference graph, oneDNN's
  // kernel on AVX-512 and ours on its matmul below. 65 images: a pass of 64 and a tail of one.
  const auto net = parse_net(R"(
    layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 65 dim: 64 dim: 7 dim: 7 } } }
    layer { name: 'conv' type: 'Conv3x3' input: 'x' output: 'c' conv { num_output: 64 } }
    layer { name: 'relu' type: 'ReLU' input: 'c' output: 'y' }
  )");
  Graph g(net, GraphOptions::inference());
  INFO("ISA " << onednn_isa());
  CHECK_THAT(g.layer(1).kernel(), Catch::Equals("winograd") || Catch::Equals("winograd on matmul"));
  randomize_inputs(g, 4);
  randomize_params(g, 5, 0.1f);
  g.forward(Context::evaluation());
  const auto params = g.params();
  const Array b = to_array(params[1]->value);
  const Array ref = relu(conv_ref(to_array(g.value("x")), to_array(params[0]->value), &b, 1, 1));
  CHECK(max_relative_error(g.value("y"), ref) < 1e-5);
}
