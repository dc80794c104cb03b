// onebyone visualize CKPT --layer NAME --digit INDEX: the feature maps a layer computes for one
// test digit, as a PNG: the digit on the left, then one cell per channel in a near-square grid
// (the seed's "features of digit 2 vs digit 3", made real). Each map is scaled to its own
// minimum (black) and maximum (white).
#include <cmath>
#include <iostream>

#include "framework/checkpoint.h"
#include "framework/trainer.h"
#include "tools/common.h"
#include "tools/image_io.h"

namespace obo::cli {

namespace {

// The layout: the digit (each pixel digit_scale wide), then the maps in a rows x cols grid of
// cells (each pixel `scale` wide, so a map is about 84 px), kGridGap pixels apart.
constexpr int64_t kGridGap = 2;
struct FeatureGrid {
  int64_t rows = 0, cols = 0, scale = 1, digit_scale = 1, width = 0, height = 0;
};

FeatureGrid feature_grid(int64_t channels, int64_t map_h, int64_t map_w, int64_t digit) {
  FeatureGrid g;
  g.cols = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(channels))));
  g.rows = (channels + g.cols - 1) / g.cols;
  g.scale = std::max<int64_t>(1, 84 / std::max(map_h, map_w));
  g.digit_scale = std::max<int64_t>(1, 84 / digit);
  const int64_t cell_h = map_h * g.scale + kGridGap, cell_w = map_w * g.scale + kGridGap;
  g.width = digit * g.digit_scale + 4 * kGridGap + g.cols * cell_w;
  g.height = std::max(digit * g.digit_scale, g.rows * cell_h - kGridGap);
  return g;
}

struct VisualizeArgs {
  std::string checkpoint, layer, out, data;
  int64_t digit = 0;
};

// Copies a map into the image at (top, left), each value a scale x scale block, min..max -> 0..255.
void paint(GrayImage& img, const float* map, int64_t h, int64_t w, int64_t scale, int64_t top, int64_t left) {
  const auto [lo, hi] = std::minmax_element(map, map + h * w);
  const float range = *hi - *lo;
  for (int64_t y = 0; y < h * scale; ++y)
    for (int64_t x = 0; x < w * scale; ++x) {
      const float v = map[(y / scale) * w + x / scale];
      img.pixels[(top + y) * img.width + left + x] =
          static_cast<uint8_t>(range > 0 ? std::lround(255.f * (v - *lo) / range) : 0);
    }
}

void visualize(const VisualizeArgs& a) {
  const onebyone::Checkpoint checkpoint = load_checkpoint(a.checkpoint);
  Graph graph = graph_from(checkpoint, GraphOptions::inference().unfused());  // every blob the model names
  graph.set_batch(1);
  if (!graph.has_blob(a.layer))
    fail("no blob '{}' in '{}' (blobs: {})", a.layer, checkpoint.net().name(), fmt::join(graph.blob_names(), ", "));
  const NetRoles roles = find_roles(graph);
  const Dataset test = load(a.data, "t10k");
  if (a.digit < 0 || a.digit >= test.count) fail("--digit {} is not one of the {} test images", a.digit, test.count);
  fill_batch(test, {a.digit}, 0, {}, graph.value(roles.images), graph.value(roles.labels));
  graph.forward(Context::evaluation());
  const Tensor maps = graph.value(a.layer).to_plain();
  if (maps.rank() != 4) fail("blob '{}' has shape {}: only (N,C,H,W) feature maps can be drawn", a.layer, to_string(maps.shape()));
  const int64_t c = maps.dim(1), h = maps.dim(2), w = maps.dim(3), digit = test.rows;
  const FeatureGrid grid = feature_grid(c, h, w, digit);
  GrayImage img;
  img.width = grid.width;
  img.height = grid.height;
  img.pixels.assign(img.width * img.height, 40);  // dark grey between cells
  const Tensor input = graph.value(roles.images).to_plain();
  paint(img, input.data(), digit, digit, grid.digit_scale, 0, 0);
  const int64_t left = digit * grid.digit_scale + 4 * kGridGap;
  for (int64_t k = 0; k < c; ++k)
    paint(img, maps.data() + k * h * w, h, w, grid.scale, (k / grid.cols) * (h * grid.scale + kGridGap),
          left + (k % grid.cols) * (w * grid.scale + kGridGap));
  const std::string out = a.out.empty() ? fmt::format("{}-digit{}.png", a.layer, a.digit) : a.out;
  write_png(out, img);
  std::cout << fmt::format("{}: test digit {} (label {}), '{}' has {} maps of {}x{}, drawn in a {}x{} grid ({}x{} px)\n",
                           out, a.digit, test.labels[a.digit], a.layer, c, h, w, grid.rows, grid.cols, img.width, img.height);
}

}  // namespace

void add_visualize(CLI::App& app) {
  auto args = std::make_shared<VisualizeArgs>();
  CLI::App* cmd = app.add_subcommand("visualize", "Draw a layer's feature maps for one test digit as a PNG grid");
  cmd->add_option("checkpoint", args->checkpoint, "Checkpoint (holds the net and its weights)")->required();
  cmd->add_option("--layer", args->layer, "Blob to draw (a layer's output name, e.g. cccp1)")->required();
  cmd->add_option("--digit", args->digit, "Index of the test digit")->capture_default_str();
  cmd->add_option("--out", args->out, "PNG file (default: <layer>-digit<index>.png)");
  add_data_option(cmd, &args->data);
  cmd->callback([args] { visualize(*args); });
}

}  // namespace obo::cli
