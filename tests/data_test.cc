// The IDX reader's validation, real MNIST and its normalisation, the per-epoch order, batch
// preparation, and what a net is fed in training and in evaluation.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "framework/data/dataset.h"
#include "framework/data/idx.h"
#include "framework/registry.h"
#include "framework/trainer.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

namespace {

std::string write_temp(const std::string& name, const std::vector<uint8_t>& bytes) {
  const std::string path = (std::filesystem::temp_directory_path() / ("onebyone_" + name)).string();
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// An IDX image file of `count` 2x3 images, with `extra` bytes added (or removed, if negative).
std::vector<uint8_t> idx_images(uint8_t count, int extra = 0, uint8_t magic = 0x03) {
  std::vector<uint8_t> b = {0, 0, 8, magic, 0, 0, 0, count, 0, 0, 0, 2, 0, 0, 0, 3};
  b.resize(b.size() + count * 6 + extra, 7);
  return b;
}

}  // namespace

TEST_CASE("IDX files are validated", "[data][errors]") {
  CHECK(read_idx_images(write_temp("ok", idx_images(4))).pixels.size() == 24);
  const std::string truncated = write_temp("truncated", idx_images(4, -5));
  CHECK_THROWS_WITH(read_idx_images(truncated),
                    truncated + ": the header promises 24 bytes of images, the file holds 19 (truncated or not IDX)");
  const std::string labels_as_images = write_temp("magic", idx_images(4, 0, 0x01));
  CHECK_THROWS_WITH(read_idx_images(labels_as_images),
                    Catch::Contains("magic number 0x00000801, expected 0x00000803 (IDX images)"));
  const std::string tiny = write_temp("tiny", {0, 0, 8});
  CHECK_THROWS_WITH(read_idx_labels(tiny), tiny + ": 3 bytes is too short for an IDX labels header (8 bytes)");
  CHECK_THROWS_WITH(read_idx_images("/nonexistent/x-idx3-ubyte"),
                    "cannot open IDX file '/nonexistent/x-idx3-ubyte': No such file or directory");
}

TEST_CASE("MNIST loads with the sizes and labels of the real data set", "[data][mnist]") {
  const Dataset train = load_dataset(mnist_dir(), "train"), test = load_dataset(mnist_dir(), "t10k");
  CHECK(train.count == 60000);
  CHECK(test.count == 10000);
  CHECK(train.rows == 28);
  CHECK(train.cols == 28);
  // The first training digits of MNIST are 5, 0, 4, 1, 9; the first test digits 7, 2, 1, 0, 4.
  CHECK(std::vector<int>(train.labels.begin(), train.labels.begin() + 5) == std::vector<int>{5, 0, 4, 1, 9});
  CHECK(std::vector<int>(test.labels.begin(), test.labels.begin() + 5) == std::vector<int>{7, 2, 1, 0, 4});
  auto [head, rest] = split_off(train, 1000);
  CHECK(head.count == 1000);
  CHECK(rest.count == 59000);
  CHECK(rest.labels[0] == train.labels[1000]);
}

TEST_CASE("the epoch order is a seeded permutation that changes every epoch", "[data]") {
  const auto a = epoch_order(1000, 7, 0), again = epoch_order(1000, 7, 0), next = epoch_order(1000, 7, 1);
  CHECK(std::set<int64_t>(a.begin(), a.end()).size() == 1000);
  CHECK(a == again);
  CHECK(a != next);
  CHECK(a != epoch_order(1000, 8, 0));
}

TEST_CASE("MNIST's normalisation constants are its training pixels' mean and standard deviation", "[data][mnist]") {
  const Dataset train = load_dataset(mnist_dir(), "train");
  double sum = 0, squares = 0;
  for (const uint8_t p : train.pixels) {
    sum += p / 255.0;
    squares += (p / 255.0) * (p / 255.0);
  }
  const double n = static_cast<double>(train.pixels.size()), mean = sum / n;
  const double sd = std::sqrt(squares / n - mean * mean);
  CHECK(kMnistMean == Approx(mean).margin(5e-5));  // 0.13066
  CHECK(kMnistStd == Approx(sd).margin(5e-5));     // 0.30811
}

namespace {

// 8 images of 5x5 whose pixels (1 to 200) are all different, so that where each came from, and by
// which shift, can be read off the batch.
Dataset distinct_pixels() {
  Dataset d;
  d.count = 8;
  d.rows = d.cols = 5;
  for (int i = 0; i < 200; ++i) d.pixels.push_back(static_cast<uint8_t>(1 + (i * 77) % 200));
  for (int i = 0; i < 8; ++i) d.labels.push_back(static_cast<uint8_t>(i));
  return d;
}

// The shifts (dy, dx) in [-3, 3]^2 by which `image` (a batch's, normalised) is example `e` of `d`
// moved as a whole, the pixels moved in from outside filled with normalised black.
std::vector<std::pair<int, int>> shifts_of(const float* image, const Dataset& d, int64_t e) {
  std::vector<std::pair<int, int>> found;
  for (int dy = -3; dy <= 3; ++dy)
    for (int dx = -3; dx <= 3; ++dx) {
      bool same = true;
      for (int y = 0; y < 5 && same; ++y)
        for (int x = 0; x < 5 && same; ++x) {
          const int sy = y - dy, sx = x - dx;
          const int pixel = sy < 0 || sy >= 5 || sx < 0 || sx >= 5 ? 0 : d.pixels[e * 25 + sy * 5 + sx];
          same = image[y * 5 + x] == (pixel / 255.f - kMnistMean) / kMnistStd;
        }
      if (same) found.emplace_back(dy, dx);
    }
  return found;
}

}  // namespace

TEST_CASE("batches are normalised, labelled, and shifted as whole images within bounds", "[data]") {
  const Dataset d = distinct_pixels();
  Tensor images({8, 1, 5, 5}), labels({8});
  const std::vector<int64_t> order = {5, 0, 7, 1, 2, 6, 3, 4};
  fill_batch(d, order, 0, {}, images, labels);
  for (int b = 0; b < 8; ++b) {
    CHECK(labels.data()[b] == order[b]);
    CHECK(shifts_of(images.data() + b * 25, d, order[b]) == std::vector<std::pair<int, int>>{{0, 0}});
  }
  // The normalisation, in figures: pixel 255 is (1 - 0.1307) / 0.3081, pixel 0 is -0.1307 / 0.3081.
  Dataset extremes = d;
  extremes.pixels[0] = 255;
  extremes.pixels[1] = 0;
  Tensor one({1, 1, 5, 5}), its_label({1});
  fill_batch(extremes, {0}, 0, {}, one, its_label);
  CHECK(one.data()[0] == Approx(2.821486).epsilon(1e-6));
  CHECK(one.data()[1] == Approx(-0.424213).epsilon(1e-5));

  // Shifted: each image moved as a whole by one (dy, dx) in [-2, 2]^2, the border filled with
  // black; over 40 epochs every one of the 25 shifts occurs.
  std::set<std::pair<int, int>> moves;
  for (int epoch = 0; epoch < 40; ++epoch) {
    fill_batch(d, order, 0, {2, 1, epoch}, images, labels);
    for (int b = 0; b < 8; ++b) {
      const auto found = shifts_of(images.data() + b * 25, d, order[b]);
      INFO("epoch " << epoch << ", image " << b);
      REQUIRE(found.size() == 1);
      CHECK((std::abs(found[0].first) <= 2 && std::abs(found[0].second) <= 2));
      moves.insert(found[0]);
    }
  }
  CHECK(moves.size() == 25);
}

namespace {

// The identity, recording each pass's input and whether it trained: what a net is fed.
class RecordImages : public Layer {
 public:
  static std::vector<std::pair<bool, Tensor>>& seen() {
    static std::vector<std::pair<bool, Tensor>> passes;
    return passes;
  }
  explicit RecordImages(const LayerParameter& p) : Layer(p) { expect_arity(1, 1, 1); }
  Shapes output_shapes(const Shapes& in) const override { return {in[0]}; }
  void reshape(const Ports& in, const Ports& out) override { out[0].value->reshape(in[0].value->shape()); }
  void forward(const Ports& in, const Ports& out, const Context& ctx) override {
    std::copy(in[0].value->data(), in[0].value->data() + in[0].value->count(), out[0].value->data());
    seen().emplace_back(ctx.train, in[0].value->to_plain());
  }
  void backward(const Ports& in, const Ports& out) override {
    if (in[0].grad) std::copy(out[0].grad->data(), out[0].grad->data() + out[0].grad->count(), in[0].grad->data());
  }
};

REGISTER_LAYER("TestRecordImages", RecordImages);

}  // namespace

TEST_CASE("training steps see shifted images, evaluation the images as they are", "[data][training]") {
  const Dataset d = distinct_pixels();
  const auto net = parse_net(R"(
    layer { name: 'data' type: 'Input' output: 'data' output: 'label' input_param { shape { dim: 4 dim: 1 dim: 5 dim: 5 } shape { dim: 4 } } }
    layer { name: 'record' type: 'TestRecordImages' input: 'data' output: 'seen' }
    layer { name: 'fc' type: 'FC' input: 'seen' output: 'score' fc { num_output: 8 } }
    layer { name: 'loss' type: 'SoftmaxCrossEntropy' input: 'score' input: 'label' output: 'loss' })");
  onebyone::SolverParameter solver;
  parse_text("base_lr: 0.01 batch_size: 4 epochs: 1 augment_shift: 2 seed: 3", "<test solver>", &solver);
  RecordImages::seen().clear();
  Trainer trainer(net, solver, d, d, {});
  trainer.run();
  // Two training steps of four images, then the evaluation of all eight, four at a time.
  const auto& passes = RecordImages::seen();
  REQUIRE(passes.size() == 4);
  int shifted = 0;
  std::set<int64_t> trained_on;
  for (int pass = 0; pass < 2; ++pass) {
    REQUIRE(passes[pass].first);
    for (int b = 0; b < 4; ++b) {
      int matches = 0;
      for (int64_t e = 0; e < d.count; ++e)
        for (const auto& [dy, dx] : shifts_of(passes[pass].second.data() + b * 25, d, e)) {
          ++matches;
          trained_on.insert(e);
          shifted += dy != 0 || dx != 0;
          CHECK((std::abs(dy) <= 2 && std::abs(dx) <= 2));
        }
      CHECK(matches == 1);
    }
  }
  CHECK(trained_on.size() == 8);  // an epoch takes each image once
  CHECK(shifted > 0);
  for (int pass = 2; pass < 4; ++pass) {
    REQUIRE_FALSE(passes[pass].first);
    for (int b = 0; b < 4; ++b)
      CHECK(shifts_of(passes[pass].second.data() + b * 25, d, (pass - 2) * 4 + b) == std::vector<std::pair<int, int>>{{0, 0}});
  }
}

TEST_CASE("Fashion-MNIST loads with its sizes, labels and class names", "[data][fashion]") {
  const Dataset train = load_dataset(fashion_mnist_dir(), "train"), test = load_dataset(fashion_mnist_dir(), "t10k");
  CHECK(train.count == 60000);
  CHECK(test.count == 10000);
  CHECK(train.rows == 28);
  // Zalando's first training items are an ankle boot, two T-shirts, a dress, a T-shirt; the first
  // test items an ankle boot, a pullover, two trousers, a shirt.
  CHECK(std::vector<int>(train.labels.begin(), train.labels.begin() + 5) == std::vector<int>{9, 0, 0, 3, 0});
  CHECK(std::vector<int>(test.labels.begin(), test.labels.begin() + 5) == std::vector<int>{9, 2, 1, 1, 6});
  CHECK(test.class_names == std::vector<std::string>{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                                      "Shirt", "Sneaker", "Bag", "Ankle boot"});
  CHECK(class_label(test.class_names, 9) == "9 Ankle boot");
  CHECK(class_label({}, 7) == "7");
  CHECK(split_off(test, 10).first.class_names == test.class_names);
}

TEST_CASE("a data set's class names come from its classes.txt, checked against its labels", "[data][errors]") {
  const std::string dir = (std::filesystem::temp_directory_path() / "onebyone_classes").string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
    std::ofstream(dir + "/" + name, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  };
  write("train-images-idx3-ubyte", idx_images(3));
  write("train-labels-idx1-ubyte", {0, 0, 8, 1, 0, 0, 0, 3, 0, 2, 1});
  CHECK(load_dataset(dir, "train").class_names.empty());  // none: 10 classes by number
  std::ofstream(dir + "/classes.txt") << "cat\ndog\nbird\n";
  const Dataset named = load_dataset(dir, "train");
  CHECK(named.classes == 3);
  CHECK(named.class_names == std::vector<std::string>{"cat", "dog", "bird"});
  std::ofstream(dir + "/classes.txt") << "cat\ndog\n";
  CHECK_THROWS_WITH(load_dataset(dir, "train"),
                    dir + "/train-labels-idx1-ubyte: label 2 of example 1 is not one of the 2 classes");
  std::ofstream(dir + "/classes.txt") << "cat\n";
  CHECK_THROWS_WITH(load_dataset(dir, "train"), dir + "/classes.txt: 1 class names; a data set has 2 to 256 classes, one name a line");
}
