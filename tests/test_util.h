// Helpers for tests of layers and nets, installed with the library (OneByOne::testing): nets from
// inline text, random tensors and parameters.
#pragma once

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "framework/graph.h"
#include "framework/proto_io.h"
#include "framework/random.h"

namespace obo::test {

inline onebyone::NetParameter parse_net(const std::string& text) {
  onebyone::NetParameter net;
  parse_text(text, "<test net>", &net);
  return net;
}

#ifdef ONEBYONE_SOURCE_DIR  // the project's own tests
// MNIST as fetched by `./run fetch` (the test command fetches it first).
inline std::string mnist_dir() { return std::string(ONEBYONE_SOURCE_DIR) + "/data/mnist"; }

inline std::string model_path(const std::string& name) {
  return std::string(ONEBYONE_SOURCE_DIR) + "/models/" + name + ".prototxt";
}
#endif

// "dim: 2 dim: 3 ..." for an Input layer's shape block.
inline std::string dims_text(const Shape& s) {
  std::string out;
  for (int64_t d : s) out += fmt::format("dim: {} ", d);
  return out;
}

// A net of one Input per shape (blobs "x0", "x1", ...) feeding `layer_text`, whose inputs must
// be named accordingly and whose output is "y".
inline onebyone::NetParameter single_layer_net(const std::vector<Shape>& inputs, const std::string& layer_text) {
  std::string text;
  for (size_t i = 0; i < inputs.size(); ++i)
    text += fmt::format("layer {{ name: 'in{0}' type: 'Input' output: 'x{0}' input_param {{ shape {{ {1} }} }} }}\n", i,
                        dims_text(inputs[i]));
  return parse_net(text + "layer { " + layer_text + " }");
}

// Uniform in [lo, hi), reproducible from the seed.
inline Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor t(shape);
  for (int64_t i = 0; i < t.count(); ++i) t.data()[i] = lo + (hi - lo) * uniform(seed, 0, i);
  return t;
}

// Fills every Input blob of g with uniform random values (seeded by blob order).
inline void randomize_inputs(Graph& g, uint64_t seed) {
  for (size_t i = 0; i < g.input_blobs().size(); ++i) {
    Tensor& x = g.value(g.input_blobs()[i]);
    x.assign_plain(random_tensor(x.shape(), seed + i));
  }
}

// Fills every Input blob with a random permutation of values 0.05 apart, centred on 0: no two
// are within a gradient-check step of each other, so max pooling has no ties to straddle.
inline void distinct_inputs(Graph& g, uint64_t seed) {
  for (const std::string& name : g.input_blobs()) {
    Tensor& x = g.value(name);
    const int64_t n = x.count();
    std::vector<std::pair<uint64_t, int64_t>> order;
    for (int64_t i = 0; i < n; ++i) order.emplace_back(random_bits(seed, 3, i), i);
    std::sort(order.begin(), order.end());
    Tensor plain(x.shape());
    for (int64_t rank = 0; rank < n; ++rank) plain.data()[order[rank].second] = 0.05f * (rank - n / 2);
    x.assign_plain(plain);
  }
}

// Overwrites every parameter with uniform values in [-scale, scale), so biases are non-zero too.
inline void randomize_params(Graph& g, uint64_t seed, float scale = 1.f) {
  Tensor& w = g.param_values();
  for (int64_t i = 0; i < w.count(); ++i) w.data()[i] = scale * (2.f * uniform(seed, 9, i) - 1.f);
}

}  // namespace obo::test
