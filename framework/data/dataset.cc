#include "framework/data/dataset.h"

#include <filesystem>
#include <sstream>

#include "framework/data/idx.h"
#include "framework/error.h"
#include "framework/io.h"
#include "framework/random.h"

namespace obo {

Dataset load_dataset(const std::string& dir, const std::string& split) {
  const std::string images_path = dir + "/" + split + "-images-idx3-ubyte";
  const std::string labels_path = dir + "/" + split + "-labels-idx1-ubyte";
  const std::string names_path = dir + "/classes.txt";
  IdxImages images = read_idx_images(images_path);
  Dataset d;
  d.count = images.count;
  d.rows = images.rows;
  d.cols = images.cols;
  d.pixels = std::move(images.pixels);
  d.labels = read_idx_labels(labels_path);
  if (static_cast<int64_t>(d.labels.size()) != d.count)
    fail("{} holds {} labels for the {} images of {}", labels_path, d.labels.size(), d.count, images_path);
  if (std::filesystem::exists(names_path)) {
    std::istringstream lines(read_file(names_path, int64_t{1} << 16, "class names"));
    for (std::string name; std::getline(lines, name);)
      if (!name.empty()) d.class_names.push_back(name);
    if (d.class_names.size() < 2 || d.class_names.size() > 256)
      fail("{}: {} class names; a data set has 2 to 256 classes, one name a line", names_path, d.class_names.size());
    d.classes = static_cast<int>(d.class_names.size());
  }
  for (size_t i = 0; i < d.labels.size(); ++i)
    if (d.labels[i] >= d.classes)
      fail("{}: label {} of example {} is not one of the {} classes", labels_path, d.labels[i], i, d.classes);
  return d;
}

std::string class_label(const std::vector<std::string>& class_names, int64_t k) {
  return k < static_cast<int64_t>(class_names.size()) ? fmt::format("{} {}", k, class_names[k]) : std::to_string(k);
}

std::pair<Dataset, Dataset> split_off(const Dataset& data, int64_t count) {
  if (count < 0 || count > data.count) fail("cannot split {} examples off a set of {}", count, data.count);
  const int64_t image = data.rows * data.cols;
  // Each part gets its own pixels only: copying `data` whole and then shrinking would keep
  // every page of the full set resident in both parts.
  auto part = [&](int64_t first, int64_t n) {
    Dataset d;
    d.count = n;
    d.rows = data.rows;
    d.cols = data.cols;
    d.classes = data.classes;
    d.class_names = data.class_names;
    d.pixels.assign(data.pixels.begin() + first * image, data.pixels.begin() + (first + n) * image);
    d.labels.assign(data.labels.begin() + first, data.labels.begin() + first + n);
    return d;
  };
  return {part(0, count), part(count, data.count - count)};
}

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  const uint64_t stream = stream_of("shuffle") + static_cast<uint64_t>(epoch);
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(random_bits(seed, stream, i) % static_cast<uint64_t>(i + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

void fill_batch(const Dataset& data, const std::vector<int64_t>& order, int64_t first, const Augment& augment,
                Tensor& images, Tensor& labels) {
  const int64_t n = images.dim(0), rows = data.rows, cols = data.cols;
  // Compared dimension by dimension: a Shape temporary would allocate on every batch.
  if (images.rank() != 4 || images.dim(1) != 1 || images.dim(2) != rows || images.dim(3) != cols || !images.plain() ||
      labels.count() != n)
    fail("a batch of {} {}x{} digits needs images (N,1,{},{}) and labels (N), got {} and {}", n, rows, cols, rows, cols,
         to_string(images.shape()), to_string(labels.shape()));
  if (first + n > static_cast<int64_t>(order.size()))
    fail("batch [{}, {}) runs past the {} examples", first, first + n, order.size());
  const uint64_t stream = stream_of("shift") + static_cast<uint64_t>(augment.epoch);
  const int span = 2 * augment.shift + 1;
  const float background = -kMnistMean / kMnistStd;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < n; ++b) {
    const int64_t example = order[first + b];
    int dy = 0, dx = 0;
    if (augment.shift > 0) {
      const uint64_t bits = random_bits(augment.seed, stream, static_cast<uint64_t>(example));
      dy = static_cast<int>(bits % span) - augment.shift;
      dx = static_cast<int>((bits >> 32) % span) - augment.shift;
    }
    const uint8_t* src = data.pixels.data() + example * rows * cols;
    float* dst = images.data() + b * rows * cols;
    for (int64_t y = 0; y < rows; ++y)
      for (int64_t x = 0; x < cols; ++x) {
        const int64_t sy = y - dy, sx = x - dx;
        dst[y * cols + x] = (sy < 0 || sy >= rows || sx < 0 || sx >= cols)
                                ? background
                                : (src[sy * cols + sx] / 255.f - kMnistMean) / kMnistStd;
      }
    labels.data()[b] = static_cast<float>(data.labels[example]);
  }
}

}  // namespace obo
