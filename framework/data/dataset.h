// A data set of grey images in MNIST's files (MNIST, Fashion-MNIST: 60,000 + 10,000 images of
// 28x28 take 55 MB as bytes) and the preparation of batches: normalisation, a per-epoch shuffle
// and random shifts, all functions of (seed, epoch, index) so that a resumed run sees exactly
// the data an uninterrupted one would. Batches are filled in parallel with OpenMP.
//
//   Dataset train = load_dataset("data/fashion-mnist", "train");
//   auto order = epoch_order(train.count, seed, epoch);
//   fill_batch(train, order, first, {shift, seed, epoch}, graph.value("data"), graph.value("label"));
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "framework/tensor.h"

namespace obo {

struct Dataset {
  int64_t count = 0, rows = 0, cols = 0;
  int classes = 10;
  std::vector<std::string> class_names;  // one per class, or none: the classes are their numbers
  std::vector<uint8_t> pixels;  // count * rows * cols
  std::vector<uint8_t> labels;  // count
};

// From folder `dir`: <split>-images-idx3-ubyte and <split>-labels-idx1-ubyte, split "train" or
// "t10k", and the class names, one a line, from classes.txt where there is one (10 classes, by
// number, where not). Checks that images and labels agree and that every label is a class.
Dataset load_dataset(const std::string& dir, const std::string& split);
// "7", or "7 Sneaker" where the classes have names.
std::string class_label(const std::vector<std::string>& class_names, int64_t k);
// The first `count` examples and the rest.
std::pair<Dataset, Dataset> split_off(const Dataset& data, int64_t count);

// A permutation of [0, n) for this epoch (Fisher-Yates over counter-based draws).
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch);

struct Augment {
  int shift = 0;  // each image moves by up to this many pixels in x and y (0: none)
  uint64_t seed = 0;
  int64_t epoch = 0;
};

// Pixel scaling to zero mean and unit variance over MNIST's training set, for every data set: a
// checkpoint then needs no statistics of the data it was trained on to read a new image.
// (Fashion-MNIST's pixels, mean 0.286 and sd 0.353, come out at mean 0.5 and sd 1.15.)
constexpr float kMnistMean = 0.1307f, kMnistStd = 0.3081f;

// Fills images (N,1,rows,cols) and labels (N) with examples order[first .. first+N).
void fill_batch(const Dataset& data, const std::vector<int64_t>& order, int64_t first, const Augment& augment,
                Tensor& images, Tensor& labels);

}  // namespace obo
