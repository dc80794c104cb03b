// The IDX reader's validation, real MNIST, the per-epoch order and batch preparation.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "framework/data/dataset.h"
#include "framework/data/idx.h"
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
  const Dataset train = load_mnist(mnist_dir(), "train"), test = load_mnist(mnist_dir(), "t10k");
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

TEST_CASE("batches are normalised, shifted within bounds, and labelled", "[data]") {
  Dataset d;
  d.count = 2;
  d.rows = d.cols = 5;
  d.pixels.assign(50, 0);
  d.pixels[12] = 255;  // example 0: one bright pixel at the centre (2, 2)
  d.pixels[25 + 12] = 255;
  d.labels = {3, 8};
  Tensor images({2, 1, 5, 5}), labels({2});
  fill_batch(d, {1, 0}, 0, {}, images, labels);
  CHECK(labels.data()[0] == 8);
  CHECK(labels.data()[1] == 3);
  CHECK(images.data()[12] == Approx((1.f - kMnistMean) / kMnistStd));
  CHECK(images.data()[0] == Approx(-kMnistMean / kMnistStd));
  std::set<std::pair<int, int>> moves;
  for (int epoch = 0; epoch < 40; ++epoch) {
    fill_batch(d, {0, 1}, 0, {2, 1, epoch}, images, labels);
    for (int b = 0; b < 2; ++b) {
      const float* img = images.data() + b * 25;
      const auto bright = std::max_element(img, img + 25) - img;  // the pixel moved by (dy, dx)
      REQUIRE(img[bright] > 1.f);
      moves.insert({static_cast<int>(bright / 5) - 2, static_cast<int>(bright % 5) - 2});
    }
  }
  CHECK(moves.size() > 15);  // of the 25 possible shifts in [-2, 2]^2
  for (const auto& [dy, dx] : moves) CHECK((std::abs(dy) <= 2 && std::abs(dx) <= 2));
}
