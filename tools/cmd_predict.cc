// onebyone predict CKPT IMAGE | --index N: classify a PGM or PNG image (any size, scaled to the
// net's input) or a test-set digit; prints the most likely classes with their probabilities.
#include <cmath>
#include <iostream>
#include <numeric>

#include "framework/checkpoint.h"
#include "framework/error.h"
#include "framework/inference.h"
#include "framework/trainer.h"
#include "tools/common.h"
#include "tools/image_io.h"

namespace obo::cli {
namespace {

// Box-filter resampling to rows x cols, so any size scales down (or up) without aliasing.
std::vector<float> resample(const GrayImage& g, int64_t rows, int64_t cols) {
  std::vector<float> out(rows * cols);
  for (int64_t y = 0; y < rows; ++y)
    for (int64_t x = 0; x < cols; ++x) {
      const double y0 = static_cast<double>(y) * g.height / rows, y1 = static_cast<double>(y + 1) * g.height / rows;
      const double x0 = static_cast<double>(x) * g.width / cols, x1 = static_cast<double>(x + 1) * g.width / cols;
      double sum = 0, area = 0;
      for (int64_t sy = static_cast<int64_t>(y0); sy < std::min<int64_t>(g.height, static_cast<int64_t>(std::ceil(y1))); ++sy)
        for (int64_t sx = static_cast<int64_t>(x0); sx < std::min<int64_t>(g.width, static_cast<int64_t>(std::ceil(x1))); ++sx) {
          const double w = (std::min<double>(sy + 1, y1) - std::max<double>(sy, y0)) * (std::min<double>(sx + 1, x1) - std::max<double>(sx, x0));
          sum += w * g.pixels[sy * g.width + sx];
          area += w;
        }
      out[y * cols + x] = static_cast<float>(sum / area);
    }
  return out;
}

struct PredictArgs {
  std::string checkpoint, image, data;
  int64_t index = -1;
  int top = 3;
};

void predict(const PredictArgs& a) {
  const onebyone::Checkpoint checkpoint = load_checkpoint(a.checkpoint);
  Graph graph = inference_graph(checkpoint, 1);
  const NetRoles roles = find_roles(graph);
  Tensor& input = graph.value(roles.images);
  const int64_t rows = input.dim(2), cols = input.dim(3);
  std::string what;
  // The classes' names: the test set's, or the training set's as the checkpoint recorded them.
  std::vector<std::string> names(checkpoint.context().class_names().begin(), checkpoint.context().class_names().end());
  if (a.index >= 0) {
    const Dataset test = load(a.data, "t10k");
    if (a.index >= test.count) fail("--index {} is past the {} test images", a.index, test.count);
    fill_batch(test, {a.index}, 0, {}, input, graph.value(roles.labels));
    names = test.class_names;
    what = fmt::format("test image {} (label {})", a.index, class_label(names, test.labels[a.index]));
  } else {
    if (a.image.empty()) fail("predict needs an IMAGE or --index N");
    const GrayImage g = read_image(a.image);
    std::vector<float> pixels = resample(g, rows, cols);
    // MNIST digits are light on dark: invert a dark-on-light drawing.
    const double mean = std::accumulate(pixels.begin(), pixels.end(), 0.0) / pixels.size();
    for (int64_t i = 0; i < rows * cols; ++i) {
      const float p = mean > 127.5 ? 255.f - pixels[i] : pixels[i];
      input.data()[i] = (p / 255.f - kMnistMean) / kMnistStd;
    }
    graph.value(roles.labels).data()[0] = 0;
    what = fmt::format("{} ({}x{}{})", a.image, g.width, g.height, mean > 127.5 ? ", inverted" : "");
  }
  graph.forward(Context::evaluation());
  const Tensor scores = graph.value(roles.scores).to_plain();
  const int64_t k = scores.count();
  std::vector<double> p(k);
  const double top = *std::max_element(scores.data(), scores.data() + k);
  double z = 0;
  for (int64_t i = 0; i < k; ++i) z += p[i] = std::exp(scores.data()[i] - top);
  std::vector<int64_t> order(k);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return p[x] > p[y]; });
  std::cout << what << "\n";
  const int64_t shown = std::min<int64_t>(a.top, k);
  size_t width = 0;
  for (int64_t i = 0; i < shown; ++i) width = std::max(width, class_label(names, order[i]).size());
  for (int64_t i = 0; i < shown; ++i)
    std::cout << fmt::format("  {:<{}}  {:6.2f}%\n", class_label(names, order[i]), width, 100 * p[order[i]] / z);
}

}  // namespace

void add_predict(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  CLI::App* cmd = app.add_subcommand("predict", "Classify a PGM/PNG image or a test-set digit");
  cmd->add_option("checkpoint", args->checkpoint, "Checkpoint (holds the net and its weights)")->required();
  cmd->add_option("image", args->image, "PGM or PNG image, any size; scaled to the net's input");
  cmd->add_option("--index", args->index, "Classify this test-set digit instead")->check(at_least(0));
  cmd->add_option("--top", args->top, "How many classes to show")->capture_default_str()->check(at_least(1));
  add_data_option(cmd, &args->data);
  cmd->callback([args] { predict(*args); });
}

}  // namespace obo::cli
