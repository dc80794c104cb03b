// Helpers for tests of layers and nets, installed with the library (OneByOne::testing): nets from
// inline text, random tensors and parameters.
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>
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
// Fashion-MNIST as `./run fetch fashion-mnist` unpacks it (the test command fetches it too).
inline std::string fashion_mnist_dir() { return std::string(ONEBYONE_SOURCE_DIR) + "/data/fashion-mnist"; }

inline std::string model_path(const std::string& name) {
  return std::string(ONEBYONE_SOURCE_DIR) + "/models/" + name + ".prototxt";
}

// The layer types registered in the files under `dir` but not under a folder named `except`
// (REGISTER_LAYER("Type", ...) in *.cc), read from the sources: what the registry must hold at
// run time, whatever the linker kept.
inline std::set<std::string> types_registered_in(const std::string& dir, const std::string& except = "") {
  std::set<std::string> types;
  const std::regex pattern(R"re(REGISTER_LAYER\("([A-Za-z0-9_]+)")re");
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.path().extension() != ".cc") continue;
    if (!except.empty() && entry.path().parent_path().filename() == except) continue;
    std::ifstream file(entry.path());
    const std::string text((std::istreambuf_iterator<char>(file)), {});
    for (std::sregex_iterator m(text.begin(), text.end(), pattern), end; m != end; ++m) types.insert((*m)[1]);
  }
  return types;
}
inline std::set<std::string> shipped_layer_types() { return types_registered_in(std::string(ONEBYONE_SOURCE_DIR) + "/layers"); }

// Ends a test that cannot do what it is for on this machine, saying why; CTest reports it as
// skipped (SKIP_REGULAR_EXPRESSION in tests/CMakeLists.txt).
#define SKIP_TEST(why)                                  \
  do {                                                  \
    std::cout << "SKIPPED: " << why << std::endl;       \
    return;                                             \
  } while (false)

// The instruction set oneDNN is held to, for skip messages: "AVX2" or "native".
inline std::string onednn_isa() {
  const char* isa = std::getenv("ONEDNN_MAX_CPU_ISA");
  return isa ? isa : "native";
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

// Like randomize_inputs, uniform in [-scale, scale), but each value moved `margin` further from
// 0, where ReLU-like activations have their kink: a gradient check's steps never straddle it.
inline void randomize_inputs_clear_of_zero(Graph& g, uint64_t seed, float scale = 1.f, float margin = 0.1f) {
  for (size_t i = 0; i < g.input_blobs().size(); ++i) {
    Tensor& x = g.value(g.input_blobs()[i]);
    Tensor plain = random_tensor(x.shape(), seed + i, -scale, scale);
    for (int64_t k = 0; k < plain.count(); ++k) plain.data()[k] += plain.data()[k] < 0 ? -margin : margin;
    x.assign_plain(plain);
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
  if (w.empty()) return;  // a net without parameters
  for (int64_t i = 0; i < w.count(); ++i) w.data()[i] = scale * (2.f * uniform(seed, 9, i) - 1.f);
}

// Keeps a ReLU-like kink away from a gradient check: moves each channel's bias (of the layer
// whose output is `blob`, a convolution or FC layer, before any activation: an unfused graph) into
// the middle of the widest gap between that channel's outputs near the median, so that none of
// them lies close to 0. Returns the smallest |output| it leaves (0.02 or so for 70 outputs a
// channel: every step below that is clear of the kink).
inline double place_biases_clear_of_zero(Graph& g, const std::string& blob, Param& bias) {
  g.forward(Context::evaluation());
  const Tensor y = g.value(blob).to_plain();
  const int64_t n = y.dim(0), channels = y.dim(1), per = y.count() / (n * channels);
  double nearest = INFINITY;
  for (int64_t c = 0; c < channels; ++c) {
    std::vector<double> without_bias;  // the channel's outputs less its bias, sorted
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < per; ++j) without_bias.push_back(y.data()[(i * channels + c) * per + j] - bias.value.data()[c]);
    std::sort(without_bias.begin(), without_bias.end());
    // Among the middle half, so that the ReLU stays about half open.
    const size_t first = without_bias.size() / 4, last = 3 * without_bias.size() / 4;
    size_t widest = first;
    for (size_t k = first; k + 1 <= last && k + 1 < without_bias.size(); ++k)
      if (without_bias[k + 1] - without_bias[k] > without_bias[widest + 1] - without_bias[widest]) widest = k;
    bias.value.data()[c] = static_cast<float>(-(without_bias[widest] + without_bias[widest + 1]) / 2);
    for (double v : without_bias) nearest = std::min(nearest, std::abs(v + bias.value.data()[c]));
  }
  g.forward(Context::evaluation());
  return nearest;
}

// The layer of that name; throws where there is none (a pass removed it).
inline const Layer& layer_named(const Graph& g, const std::string& name) {
  for (size_t i = 0; i < g.num_layers(); ++i)
    if (g.layer(i).name() == name) return g.layer(i);
  fail("the graph has no layer '{}'", name);
}

}  // namespace obo::test
