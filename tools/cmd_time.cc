// onebyone time MODEL: forward and backward time per layer and in total (like `caffe time`),
// training and inference images/s, achieved GFLOP/s and peak resident memory. onebyone time
// CKPT: the checkpoint's inference graph alone (int8 where it is quantized).
#include <sys/resource.h>

#include <omp.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>

#include "framework/checkpoint.h"
#include "framework/distributed.h"
#include "framework/inference.h"
#include "framework/optimizer.h"
#include "framework/proto_io.h"
#include "framework/records.h"
#include "framework/random.h"
#include "framework/trainer.h"
#include "tools/common.h"

namespace obo::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct TimeArgs {
  std::string model;
  int batch = 128, iterations = 20, warmup = 3, threads = 0;
  bool json = false;
};

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Seconds summed over the measured iterations.
struct Timing {
  std::vector<double> forward, backward;  // per layer
  double update = 0;
  double allreduce = 0;  // the gradients summed across ranks (under mpirun)
  double step = 0;  // the measured steps' wall time: what the layers and the update take, and any gap between
  double inference = 0;
  int64_t inference_multiply_adds = 0;    // of one inference pass
};

void fill_random(Graph& graph, const NetRoles& roles) {
  Tensor& images = graph.value(roles.images);
  for (size_t i = 0; i < images.size(); ++i) images.data()[i] = normal(1, 0, i);
  Tensor& labels = graph.value(roles.labels);
  for (int64_t i = 0; i < labels.count(); ++i) labels.data()[i] = static_cast<float>(random_bits(1, 1, i) % 10);
}

// Training steps, layer by layer, then the optimizer's update.
void time_training(Graph& graph, Optimizer& optimizer, Communicator& world, const TimeArgs& a, Timing& t) {
  const size_t n = graph.num_layers();
  t.forward.assign(n, 0);
  t.backward.assign(n, 0);
  Clock::time_point first_measured;
  for (int it = -a.warmup; it < a.iterations; ++it) {
    const bool measured = it >= 0;
    if (it == 0) first_measured = Clock::now();
    const Context ctx = Context::training(1, static_cast<uint64_t>(it + a.warmup));
    for (size_t i = 0; i < n; ++i) {
      const auto t0 = Clock::now();
      graph.forward_layer(i, ctx);
      if (measured) t.forward[i] += seconds(t0, Clock::now());
    }
    for (size_t i = n; i-- > 0;) {
      const auto t0 = Clock::now();
      graph.backward_layer(i);
      if (measured) t.backward[i] += seconds(t0, Clock::now());
    }
    if (world.size() > 1) {
      const auto t0 = Clock::now();
      world.sum(graph.param_grads().data(), graph.param_grads().count());
      if (measured) t.allreduce += seconds(t0, Clock::now());
    }
    const auto t0 = Clock::now();
    optimizer.step(it + a.warmup);
    if (measured) t.update += seconds(t0, Clock::now());
  }
  t.step = seconds(first_measured, Clock::now());
}

// Inference as `test` and `predict` run it (framework/inference.h's inference_graph), layer by
// layer: where it goes, in the inference graph's layers (BatchNorm folded, ReLUs fused, Dropout
// gone), and which kernel each runs. Returns the layers and their times.
Records time_inference(Graph& deployed, const TimeArgs& a, Timing& t) {
  const size_t n = deployed.num_layers();
  std::vector<double> per_layer(n, 0);
  t.inference_multiply_adds = deployed.multiply_adds();
  // Layers that choose a kernel by timing their first passes (framework/fastest.h) choose before
  // the warm-up, so that the measured passes run what every later pass will (a layer that never
  // settles gets 100 passes).
  const auto measuring = [&] {
    for (size_t i = 0; i < n; ++i)
      if (deployed.layer(i).kernel() == "measuring") return true;
    return false;
  };
  for (int pass = 0; pass < 100 && measuring(); ++pass) deployed.forward(Context::evaluation());
  for (int it = -a.warmup; it < a.iterations; ++it) {
    const auto start = Clock::now();
    for (size_t i = 0; i < n; ++i) {
      const auto t0 = Clock::now();
      deployed.forward_layer(i, Context::evaluation());
      if (it >= 0) per_layer[i] += seconds(t0, Clock::now());
    }
    if (it >= 0) t.inference += seconds(start, Clock::now());
  }
  const double per = 1e3 / a.iterations;
  Records layers({Column("name").shown("layer"), Column("type").shown("type"), Column("fused").shown("fused"),
                  Column("kernel").shown("kernel"), Column("ms").shown("inference ms", ".3f")});
  for (size_t i = 0; i < n; ++i) {
    const Layer& layer = deployed.layer(i);
    layers.add({layer.name(), layer.type(), layer.fused(), layer.kernel(), per * per_layer[i]});
  }
  layers.set_total({"total", "", "", "", per * t.inference});
  return layers;
}

void report(const TimeArgs& a, const std::string& path, Graph& graph, const Communicator& world, const Timing& t,
            const Records& inference_layers) {
  const double per = 1e3 / a.iterations;  // ms per iteration from summed seconds
  // Per layer in the JSON too, so that bench/profile can set where our step goes beside PyTorch's.
  Records layers({Column("name").shown("layer"), Column("type").shown("type"), Column("fused").shown("fused"),
                  Column("forward_ms").shown("forward ms", ".3f"), Column("backward_ms").shown("backward ms", ".3f")});
  double forward = 0, backward = 0;
  for (size_t i = 0; i < graph.num_layers(); ++i) {
    const Layer& layer = graph.layer(i);
    layers.add({layer.name(), layer.type(), layer.fused(), per * t.forward[i], per * t.backward[i]});
    forward += per * t.forward[i];
    backward += per * t.backward[i];
  }
  layers.set_total({"total", "", "", forward, backward});
  const double step = t.step / a.iterations;  // of the global batch, every rank its share at once
  const double train_rate = a.batch / step, infer_rate = a.batch * a.iterations / t.inference;
  // Backward of a convolution or FC layer costs two forwards (data and weight gradients).
  const double gflops = 3.0 * 2.0 * static_cast<double>(graph.multiply_adds()) * world.size() / step * 1e-9;
  const double infer_gflops = 2.0 * static_cast<double>(t.inference_multiply_adds) * a.iterations / t.inference * 1e-9;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double peak_rss_mb = usage.ru_maxrss / 1024.0;
  const int threads = omp_get_max_threads();

  if (a.json) {
    std::cout << nlohmann::json{{"model", a.model},
                                {"batch", a.batch},
                                {"threads", threads},
                                {"iterations", a.iterations},
                                {"train_images_per_s", train_rate},
                                {"infer_images_per_s", infer_rate},
                                {"gflops", gflops},
                                {"peak_rss_mb", peak_rss_mb},
                                {"forward_ms", forward},
                                {"backward_ms", backward},
                                {"update_ms", per * t.update},
                                {"step_ms", 1e3 * step},
                                {"ranks", world.size()},
                                {"allreduce_ms", per * t.allreduce},
                                {"compute_ms", 1e3 * step - per * t.allreduce},
                                {"gradient_mb", graph.param_grads().count() * sizeof(float) / 1e6},
                                {"layers", layers.json()},
                                {"infer_ms", per * t.inference},
                                {"infer_gflops", infer_gflops},
                                {"inference_layers", inference_layers.json()}}
                     .dump()
              << "\n";
    return;
  }
  std::cout << fmt::format("{}: batch {}, {} threads, {} iterations after {} warm-up\n\n", path, a.batch, threads,
                           a.iterations, a.warmup)
            << layers.text();
  std::cout << fmt::format("\noptimizer step {:.3f} ms; training step {:.2f} ms = {:.0f} images/s; {:.1f} GFLOP/s\n",
                           per * t.update, 1e3 * step, train_rate, gflops);
  if (world.size() > 1)
    std::cout << fmt::format("{}, each with its share of the batch: {:.2f} ms a step summing {:.1f} MB of gradients "
                             "({:.0f}% of the step), {:.2f} ms computing\n",
                             world.describe(), per * t.allreduce, graph.param_grads().count() * sizeof(float) / 1e6,
                             100 * per * t.allreduce / (1e3 * step), 1e3 * step - per * t.allreduce);
  std::cout << fmt::format("peak resident memory {:.0f} MB\n\ninference (the graph `test` and `predict` run): "
                           "{:.2f} ms a batch = {:.0f} images/s; {:.1f} GFLOP/s\n\n",
                           peak_rss_mb, per * t.inference, infer_rate, infer_gflops)
            << inference_layers.text();
}

// Under mpirun, --batch is the global batch: each rank times its share, the gradients summed
// across ranks each step, and rank 0 reports.
void time_model(const TimeArgs& a) {
  apply_threads(a.threads);
  Communicator& world = process_world();
  const std::string path = model_path(a.model);
  const onebyone::NetParameter net = at_batch(read_net(path), share_of(a.batch, world.rank(), world.size()).count);
  Graph graph(net, GraphOptions::seeded(1));
  const NetRoles roles = find_roles(graph);
  fill_random(graph, roles);
  // SGD with momentum: one pass over parameters, state and gradients. It lives to the end, so
  // that the peak memory counts its state.
  const auto optimizer = make_optimizer(onebyone::SolverParameter(), graph);
  Timing t;
  time_training(graph, *optimizer, world, a, t);
  // The inference graph on the trained graph's weights and images.
  onebyone::Checkpoint checkpoint;
  *checkpoint.mutable_net() = net;
  store_params(graph, &checkpoint);
  Graph deployed = inference_graph(checkpoint, graph.batch());
  deployed.value(roles.images).assign_plain(graph.value(roles.images).to_plain());
  const Records inference_layers = time_inference(deployed, a, t);
  if (world.rank() == 0) report(a, path, graph, world, t, inference_layers);
}

// A checkpoint is a net for deployment: only its inference graph is timed (int8 where it is
// quantized), on random images.
void time_checkpoint(const TimeArgs& a) {
  apply_threads(a.threads);
  const onebyone::Checkpoint checkpoint = load_checkpoint(a.model);
  Graph deployed = inference_graph(checkpoint, a.batch);
  fill_random(deployed, find_roles(deployed));
  Timing t;
  const Records layers = time_inference(deployed, a, t);
  const double per = 1e3 / a.iterations, rate = a.batch * a.iterations / t.inference;
  const double gflops = 2.0 * static_cast<double>(t.inference_multiply_adds) * a.iterations / t.inference * 1e-9;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double peak_rss_mb = usage.ru_maxrss / 1024.0;
  const bool int8 = checkpoint.has_quantization();
  if (a.json) {
    std::cout << nlohmann::json{{"model", a.model},
                                {"batch", a.batch},
                                {"threads", omp_get_max_threads()},
                                {"iterations", a.iterations},
                                {"int8", int8},
                                {"infer_images_per_s", rate},
                                {"infer_ms", per * t.inference},
                                {"infer_gflops", gflops},
                                {"peak_rss_mb", peak_rss_mb},
                                {"inference_layers", layers.json()}}
                     .dump()
              << "\n";
    return;
  }
  std::cout << fmt::format("{} ('{}'{}): batch {}, {} threads, {} iterations after {} warm-up\n\n"
                           "inference (the graph `test` and `predict` run): {:.2f} ms a batch = {:.0f} images/s; "
                           "{:.1f} GOP/s; peak resident memory {:.0f} MB\n\n",
                           a.model, checkpoint.net().name(), int8 ? ", quantized: int8 where its layers can" : "",
                           a.batch, omp_get_max_threads(), a.iterations, a.warmup, per * t.inference, rate, gflops,
                           peak_rss_mb)
            << layers.text();
}

}  // namespace

void add_time(CLI::App& app) {
  auto args = std::make_shared<TimeArgs>();
  CLI::App* cmd = app.add_subcommand("time", "Time forward and backward per layer, training and inference throughput");
  cmd->add_option("model", args->model,
                  "Model file or name in models/ (training and inference), or a checkpoint, FILE.ckpt (its inference "
                  "graph alone, int8 where it is quantized)")
      ->required();
  cmd->add_option("--batch", args->batch, "Batch size")->capture_default_str()->check(at_least(1));
  cmd->add_option("--iterations", args->iterations, "Measured iterations")->capture_default_str()->check(at_least(1));
  cmd->add_option("--warmup", args->warmup, "Unmeasured iterations first")->capture_default_str()->check(at_least(0));
  cmd->add_flag("--json", args->json, "Print one JSON object");
  add_threads_option(cmd, &args->threads);
  cmd->callback([args] {
    if (std::filesystem::path(args->model).extension() == ".ckpt")
      time_checkpoint(*args);
    else
      time_model(*args);
  });
}

}  // namespace obo::cli
