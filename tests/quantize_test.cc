// int8 inference (framework/quantize.h, `onebyone quantize`): each layer with an int8 path gives
// its float result within the quantization's error, the plan shares scales where bytes are
// copied and keeps float where a layer has no int8 path, whole nets keep their scores, and the
// command refuses what it cannot do without touching any file.
#include <catch2/catch.hpp>

#include "framework/checkpoint.h"
#include "framework/data/dataset.h"
#include "framework/dnnl_seam.h"
#include "framework/io.h"
#include "framework/inference.h"
#include "framework/quantize.h"
#include "framework/trainer.h"
#include "moved_statistics.h"
#include "reference.h"
#include "test_util.h"
#include "tool.h"

using namespace obo;
using namespace obo::test;

namespace {

// The first n digits of a split as a data set of their own.
Dataset first_digits(const std::string& split, int64_t n) { return split_off(load_dataset(mnist_dir(), split), n).first; }

// A net's checkpoint with every parameter random (biases too, which int8 must scale apart from
// the weights) and BatchNorm's running statistics moved (moved_statistics.h).
onebyone::Checkpoint random_checkpoint(const onebyone::NetParameter& net, const Dataset& digits) {
  return moved_statistics(net, digits, 5, 32, 0.2f);
}

// The scores of a checkpoint's inference graph (int8 where it is quantized) on the digits.
Tensor scores_of(const onebyone::Checkpoint& c, const Dataset& digits) {
  Graph g = inference_graph(c, digits.count);
  const NetRoles roles = find_roles(g);
  std::vector<int64_t> order(digits.count);
  for (int64_t i = 0; i < digits.count; ++i) order[i] = i;
  fill_batch(digits, order, 0, {}, g.value(roles.images), g.value(roles.labels));
  g.forward(Context::evaluation());
  return g.value(roles.scores).to_plain();
}

// The largest difference between two score tensors, as a share of the largest |score|.
double relative_difference(const Tensor& a, const Tensor& b) {
  double largest = 0, difference = 0;
  for (int64_t i = 0; i < a.count(); ++i) {
    largest = std::max(largest, std::abs(static_cast<double>(a.data()[i])));
    difference = std::max(difference, std::abs(static_cast<double>(a.data()[i]) - b.data()[i]));
  }
  return difference / largest;
}

onebyone::NetParameter with_middle(const std::string& middle) {
  return parse_net(
      "name: 'q' "
      "layer { name: 'data' type: 'Input' output: 'x' output: 'label' input_param { shape { dim: 8 dim: 1 dim: 28 "
      "dim: 28 } shape { dim: 8 } } } "
      "layer { name: 'stem' type: 'Conv3x3' input: 'x' output: 'c0' conv { num_output: 8 } } "
      "layer { name: 'stem_relu' type: 'ReLU' input: 'c0' output: 'c' } " +
      middle +
      " layer { name: 'head' type: 'FC' input: 'y' output: 's' fc { num_output: 10 } } "
      "layer { name: 'loss' type: 'SoftmaxCrossEntropy' input: 's' input: 'label' output: 'l' } "
      "layer { name: 'accuracy' type: 'Accuracy' input: 's' input: 'label' output: 'acc' }");
}

}  // namespace

TEST_CASE("each layer with an int8 path computes its float result within the quantization's error", "[int8][mnist]") {
  const std::map<std::string, std::string> middles = {
      {"Conv3x3+ReLU (u8 out)", "layer { name: 'm' type: 'Conv3x3' input: 'c' output: 'm' conv { num_output: 12 } } "
                                "layer { name: 'r' type: 'ReLU' input: 'm' output: 'y' }"},
      {"Conv, stride 2 (s8 out)",
       "layer { name: 'm' type: 'Conv' input: 'c' output: 'y' conv { num_output: 6 kernel_size: 3 stride: 2 pad: 1 } }"},
      {"Conv1x1 without bias",
       "layer { name: 'm' type: 'Conv1x1' input: 'c' output: 'y' conv { num_output: 5 bias_term: false } }"},
      {"FC, then a float ReLU", "layer { name: 'm' type: 'FC' input: 'c' output: 'f' fc { num_output: 32 } } "
                                "layer { name: 'r' type: 'ReLU' input: 'f' output: 'y' }"},
      {"Flatten", "layer { name: 'm' type: 'Flatten' input: 'c' output: 'y' }"},
      {"MaxPool", "layer { name: 'm' type: 'MaxPool' input: 'c' output: 'y' pool { kernel_size: 3 stride: 2 pad: 1 } }"},
      {"AvgPool", "layer { name: 'm' type: 'AvgPool' input: 'c' output: 'y' pool { kernel_size: 2 stride: 2 } }"},
      {"GlobalAvgPool", "layer { name: 'm' type: 'GlobalAvgPool' input: 'c' output: 'y' }"},
      {"Concat of a u8 and an s8 branch",
       "layer { name: 'a' type: 'Conv1x1' input: 'c' output: 'a0' conv { num_output: 4 } } "
       "layer { name: 'ar' type: 'ReLU' input: 'a0' output: 'a' } "
       "layer { name: 'b' type: 'Conv3x3' input: 'c' output: 'b' conv { num_output: 6 } } "
       "layer { name: 'm' type: 'Concat' input: 'a' input: 'b' output: 'y' }"},
      {"Concat with the float images", "layer { name: 'm' type: 'Concat' input: 'c' input: 'x' output: 'y' }"},
      {"Conv1x1 of a Concat (absorbed: joined first)",
       "layer { name: 'a' type: 'Conv1x1' input: 'c' output: 'a0' conv { num_output: 4 } } "
       "layer { name: 'ar' type: 'ReLU' input: 'a0' output: 'a' } "
       "layer { name: 'b' type: 'Conv3x3' input: 'c' output: 'b0' conv { num_output: 6 } } "
       "layer { name: 'br' type: 'ReLU' input: 'b0' output: 'b' } "
       "layer { name: 'j' type: 'Concat' input: 'a' input: 'b' input: 'c' output: 'j' } "
       "layer { name: 'm' type: 'Conv1x1' input: 'j' output: 'y' conv { num_output: 5 } }"},
      {"Concat that two 1x1 convolutions read (one reader only in int8: kept)",
       "layer { name: 'a' type: 'Conv1x1' input: 'c' output: 'a0' conv { num_output: 4 } } "
       "layer { name: 'ar' type: 'ReLU' input: 'a0' output: 'a' } "
       "layer { name: 'b' type: 'Conv3x3' input: 'c' output: 'b0' conv { num_output: 6 } } "
       "layer { name: 'br' type: 'ReLU' input: 'b0' output: 'b' } "
       "layer { name: 'j' type: 'Concat' input: 'a' input: 'b' output: 'j' } "
       "layer { name: 'm1' type: 'Conv1x1' input: 'j' output: 'm1' conv { num_output: 5 } } "
       "layer { name: 'm2' type: 'Conv1x1' input: 'j' output: 'm2' conv { num_output: 3 } } "
       "layer { name: 'm' type: 'Concat' input: 'm1' input: 'm2' output: 'y' }"},
      {"LRN between two convolutions (no int8 path)",
       "layer { name: 'a' type: 'Conv1x1' input: 'c' output: 'a' conv { num_output: 6 } } "
       "layer { name: 'n' type: 'LRN' input: 'a' output: 'n' lrn { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 } } "
       "layer { name: 'm' type: 'Conv1x1' input: 'n' output: 'y' conv { num_output: 6 } }"},
      {"Add (no int8 path) of two convolutions",
       "layer { name: 'a' type: 'Conv3x3' input: 'c' output: 'a' conv { num_output: 8 } } "
       "layer { name: 'm' type: 'Add' input: 'a' input: 'c' output: 'y' }"},
  };
  const auto& [what, middle] = GENERATE_REF(from_range(middles));
  INFO(what);
  const onebyone::Checkpoint c = random_checkpoint(with_middle(middle), first_digits("train", 96));
  const onebyone::Checkpoint q = quantize(c, first_digits("train", 256), 64);
  const Dataset digits = first_digits("t10k", 64);
  const double difference = relative_difference(scores_of(c, digits), scores_of(q, digits));
  CHECK(difference < 0.04);

  // Every layer that can runs int8, and says so.
  Graph g = inference_graph(q, 8);
  for (size_t i = 0; i < g.num_layers(); ++i) {
    const Layer& layer = g.layer(i);
    INFO(layer.name());
    CHECK(layer.int8().has_value() == layer.runs_int8());
    if (layer.type().rfind("Conv", 0) == 0 || layer.type() == "FC")
      CHECK(layer.kernel() == (layer.concatenation() ? "int8, joined first" : "int8"));
  }
  if (std::string(what).find("absorbed") != std::string::npos) CHECK(layer_named(g, "m").description() == "Concat+Conv1x1");
  // The float graph, which calibration ran, gave the join to both readers, so the join's range
  // is its parts' together.
  if (std::string(what).find("two 1x1") != std::string::npos) {
    CHECK(layer_named(inference_graph(c, 8), "m1").description() == "Concat+Conv1x1");
    CHECK(layer_named(g, "j").type() == "Concat");
    const Ranges ranges = ranges_of(q.quantization());
    CHECK(ranges.at("j").min == std::min(ranges.at("a0").min, ranges.at("b0").min));  // a0, b0: the ReLUs fused
    CHECK(ranges.at("j").max == std::max(ranges.at("a0").max, ranges.at("b0").max));
  }
}

TEST_CASE("the int8 plan: one scale where bytes are copied, float where a layer has no int8 path", "[int8][mnist]") {
  const onebyone::Checkpoint c = random_checkpoint(
      with_middle("layer { name: 'a' type: 'Conv1x1' input: 'c' output: 'a0' conv { num_output: 4 } } "
                  "layer { name: 'ar' type: 'ReLU' input: 'a0' output: 'a' } "
                  "layer { name: 'b' type: 'Conv3x3' input: 'c' output: 'b' conv { num_output: 6 } } "
                  "layer { name: 'cat' type: 'Concat' input: 'a' input: 'b' output: 'j' } "
                  "layer { name: 'p' type: 'MaxPool' input: 'j' output: 'p' pool { kernel_size: 2 } } "
                  "layer { name: 'n' type: 'LRN' input: 'p' output: 'y' lrn { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 } }"),
      first_digits("train", 96));
  const onebyone::Checkpoint q = quantize(c, first_digits("train", 128), 64);
  Graph g = inference_graph(q, 8);
  const auto type = [&](const std::string& blob) { return dnn::desc_of(g.value(blob)).data_type(); };
  const auto layer = [&](const std::string& name) -> const Layer& {
    for (size_t i = 0; i < g.num_layers(); ++i)
      if (g.layer(i).name() == name) return g.layer(i);
    FAIL("no layer " << name);
    throw;
  };
  using dt = dnn::memory::data_type;
  // The max-pool absorbed the concatenation (its output is no blob), and the branches are
  // written at one scale with the pool's input; one branch is signed, so all are.
  CHECK_FALSE(g.has_blob("j"));
  CHECK(layer("p").description() == "Concat+MaxPool");
  const float shared = dnn::scale_of(g.value("a"));
  CHECK(shared != 1.f);
  CHECK(dnn::scale_of(g.value("b")) == shared);
  for (const char* blob : {"a", "b"}) {
    INFO(blob);
    CHECK(type(blob) == dt::s8);
  }
  // The stem's output, read only by int8 layers, is u8 after its ReLU; the images, the max-pool's
  // output (an LRN reads it), the LRN's and the scores stay float.
  CHECK(type("c") == dt::u8);
  for (const char* blob : {"x", "p", "y", "s"}) {
    INFO(blob);
    CHECK(type(blob) == dt::f32);
  }
  // The max-pool writes float for the LRN, at scale 1: it joins the int8 branches into float
  // and pools in float.
  CHECK_FALSE(layer("p").int8()->out[0].has_value());
  CHECK_FALSE(layer("p").computes_int8());
  CHECK(layer("p").kernel().find("joined first") != std::string::npos);
}

TEST_CASE("an int8 max-pool of a concatenation reads the branches' bytes where they lie", "[int8][mnist]") {
  const onebyone::Checkpoint c = random_checkpoint(
      with_middle("layer { name: 'a' type: 'Conv1x1' input: 'c' output: 'a0' conv { num_output: 5 } } "
                  "layer { name: 'ar' type: 'ReLU' input: 'a0' output: 'a' } "
                  "layer { name: 'b' type: 'Conv3x3' input: 'c' output: 'b' conv { num_output: 6 } } "
                  "layer { name: 'cat' type: 'Concat' input: 'a' input: 'b' input: 'a' output: 'j' } "
                  "layer { name: 'p' type: 'MaxPool' input: 'j' output: 'p' pool { kernel_size: 3 stride: 2 pad: 1 } } "
                  "layer { name: 'd' type: 'Conv1x1' input: 'p' output: 'y' conv { num_output: 4 } }"),
      first_digits("train", 96));
  Graph g = inference_graph(quantize(c, first_digits("train", 128), 64), 8);
  const Layer& pool = g.layer(4);
  REQUIRE(pool.name() == "p");
  CHECK(pool.kernel() == "int8, ours");  // our byte loop over the parts, no join
  fill_batch(first_digits("t10k", 8), {0, 1, 2, 3, 4, 5, 6, 7}, 0, {}, g.value("x"), g.value("label"));
  g.forward(Context::evaluation());
  // Every byte at one scale: the pool's values are the maxima of the branches' values, exactly.
  const Array a = to_array(g.value("a")), b = to_array(g.value("b"));
  Array joined{{8, 16, 28, 28}, {}};
  for (int64_t n = 0; n < 8; ++n)
    for (const Array* part : {&a, &b, &a}) {
      const auto first = part->data.begin() + n * part->shape[1] * 28 * 28;
      joined.data.insert(joined.data.end(), first, first + part->shape[1] * 28 * 28);
    }
  const Array expected = pool_ref(joined, PoolKind::kMax, 3, 3, 2, 2, 1);
  REQUIRE(g.value("p").shape() == expected.shape);
  CHECK(max_relative_error(g.value("p"), expected) == 0);
}

TEST_CASE("shipped nets quantized keep their float scores", "[int8][mnist]") {
  const std::string model = GENERATE(as<std::string>(), "lenet", "nin", "nin-fc", "nin-bn", "inception", "resnet-mini");
  INFO(model);
  const onebyone::Checkpoint c = random_checkpoint(read_net(model_path(model)), first_digits("train", 96));
  const onebyone::Checkpoint q = quantize(c, first_digits("train", 256), 128);
  CHECK(q.quantization().calibration_images() == 256);
  CHECK(q.quantization().rule() == "max");
  const Dataset digits = first_digits("t10k", 100);
  CHECK(relative_difference(scores_of(c, digits), scores_of(q, digits)) < 0.08);
  // Quantizing twice is refused: the ranges would be the int8 net's.
  CHECK_THROWS_WITH(quantize(q, first_digits("train", 8), 8), Catch::Contains("quantized already"));
}

TEST_CASE("onebyone quantize: a checkpoint that test, predict and time run in int8, bad input refused, no file touched",
          "[int8][mnist][cli]") {
  const std::string dir = scratch_dir("quantize");
  save_checkpoint(dir + "/nin.ckpt", random_checkpoint(read_net(model_path("nin")), first_digits("train", 96)));
  const std::string data = "--data " + mnist_dir();

  const ToolRun made = run_tool(fmt::format("quantize {0}/nin.ckpt --calibrate 200 {1}", dir, data));
  INFO(made.output);
  REQUIRE(made.status == 0);
  CHECK_THAT(made.output, Catch::Contains(dir + "/nin.int8.ckpt") && Catch::Contains("over 200 training images") &&
                              Catch::Contains("int8: conv1 cccp1"));
  const std::string q = dir + "/nin.int8.ckpt";
  const ToolRun tested = run_tool(fmt::format("test {} --test-size 100 {}", q, data));
  CHECK(tested.status == 0);
  CHECK_THAT(tested.output, Catch::Contains("test accuracy"));
  CHECK(run_tool(fmt::format("predict {} --index 3 {}", q, data)).status == 0);
  const ToolRun timed = run_tool(fmt::format("time {} --batch 4 --iterations 2 --warmup 0", q));
  INFO(timed.output);
  CHECK(timed.status == 0);
  CHECK_THAT(timed.output, Catch::Contains("quantized") && Catch::Contains("int8"));

  const std::string before = read_file(q, 1 << 24, "checkpoint");
  const auto refused = [&](const std::string& args, const std::string& says) {
    const ToolRun r = run_tool(args);
    INFO(args << "\n" << r.output);
    CHECK(r.status != 0);
    CHECK_THAT(r.output, Catch::Contains(says));
  };
  refused(fmt::format("quantize {} --calibrate 10 --out {}/again.ckpt {}", q, dir, data), "quantized already");
  refused(fmt::format("quantize {}/nin.ckpt --calibrate 10 {}", dir, data), "exists already");
  refused(fmt::format("quantize {0}/nin.ckpt --calibrate 10 --out {1} {2}", dir, q, data), "exists already");
  refused(fmt::format("quantize {}/nin.ckpt --calibrate 0 --out {}/zero.ckpt {}", dir, dir, data), "--calibrate");
  refused(fmt::format("quantize {}/nin.ckpt --calibrate 60001 --out {}/many.ckpt {}", dir, dir, data), "has 60000 images");
  refused(fmt::format("quantize {} {}/nin.ckpt --calibrate 10 --out {}/other.ckpt {}", model_path("lenet"), dir, dir, data),
          "is not the one");
  CHECK(read_file(q, 1 << 24, "checkpoint") == before);
  for (const char* never : {"again", "zero", "many", "other"})
    CHECK_FALSE(std::filesystem::exists(fmt::format("{}/{}.ckpt", dir, never)));

  // Training on from a quantized checkpoint changes the weights its ranges were measured for:
  // the run's own checkpoints are float again.
  REQUIRE(run_tool(fmt::format("train lenet --epochs 1 --train-size 640 --test-size 100 --out {}/run {}", dir, data))
              .status == 0);
  REQUIRE(run_tool(fmt::format("quantize {0}/run/last.ckpt --calibrate 64 {1}", dir, data)).status == 0);
  const ToolRun resumed = run_tool(fmt::format("train --resume {}/run/last.int8.ckpt --epochs 2", dir));
  INFO(resumed.output);
  REQUIRE(resumed.status == 0);
  CHECK(load_checkpoint(dir + "/run/last.int8.ckpt").has_quantization());
  const size_t from = resumed.output.rfind("checkpoints: ") + 13;
  const std::string last = resumed.output.substr(from, resumed.output.find(',', from) - from);
  CHECK(load_checkpoint(last).epoch() == 2);
  CHECK_FALSE(load_checkpoint(last).has_quantization());
}

TEST_CASE("an int8 max-pool takes its window's largest byte on every pass, ours and oneDNN's alike", "[int8][mnist]") {
  const bool relu = GENERATE(true, false);  // u8 into the pool, or s8
  const int kernel = GENERATE(2, 3), stride = GENERATE(1, 2), pad = GENERATE(0, 1);
  if (pad * 2 > kernel) return;
  INFO((relu ? "u8" : "s8") << " kernel " << kernel << " stride " << stride << " pad " << pad);
  const onebyone::Checkpoint c = random_checkpoint(
      with_middle(fmt::format("layer {{ name: 'a' type: 'Conv3x3' input: 'c' output: 'a0' conv {{ num_output: 24 }} }} {} "
                              "layer {{ name: 'm' type: 'MaxPool' input: 'a' output: 'y' pool {{ kernel_size: {} stride: "
                              "{} pad: {} }} }}",
                              relu ? "layer { name: 'ar' type: 'ReLU' input: 'a0' output: 'a' }"
                                   : "layer { name: 'ar' type: 'Dropout' input: 'a0' output: 'a' }",
                              kernel, stride, pad)),
      first_digits("train", 96));
  // Batch 3, which no other test builds: the first graph measures both kernels.
  Graph g = inference_graph(quantize(c, first_digits("train", 64), 64), 3);
  const NetRoles roles = find_roles(g);
  const Dataset digits = first_digits("t10k", 3 * 6);
  std::vector<int64_t> order(digits.count);
  for (int64_t i = 0; i < digits.count; ++i) order[i] = i;
  const size_t pool = 3;  // data, stem, a, then the pool
  REQUIRE(g.layer(pool).name() == "m");
  CHECK(g.layer(pool).kernel() == "measuring");
  for (int pass = 0; pass < 6; ++pass) {
    INFO("pass " << pass << ", " << g.layer(pool).kernel());
    fill_batch(digits, order, 3 * pass, {}, g.value(roles.images), g.value(roles.labels));
    g.forward(Context::evaluation());
    const Tensor a = g.value("a").to_plain(), y = g.value("y").to_plain();
    REQUIRE(dnn::desc_of(g.value("y")).data_type() == (relu ? dnn::memory::data_type::u8 : dnn::memory::data_type::s8));
    const int64_t C = a.dim(1), H = a.dim(2), W = a.dim(3), OH = y.dim(2), OW = y.dim(3);
    int64_t wrong = 0;
    for (int64_t n = 0; n < a.dim(0); ++n)
      for (int64_t ch = 0; ch < C; ++ch)
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            float largest = -std::numeric_limits<float>::infinity();
            for (int64_t ih = oh * stride - pad; ih < oh * stride - pad + kernel; ++ih)
              for (int64_t iw = ow * stride - pad; iw < ow * stride - pad + kernel; ++iw)
                if (ih >= 0 && ih < H && iw >= 0 && iw < W) largest = std::max(largest, a.data()[((n * C + ch) * H + ih) * W + iw]);
            wrong += y.data()[((n * C + ch) * OH + oh) * OW + ow] != largest;
          }
    CHECK(wrong == 0);
  }
  CHECK_THAT(g.layer(pool).kernel(), Catch::StartsWith("int8, "));
}
