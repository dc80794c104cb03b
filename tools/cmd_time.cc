// onebyone time MODEL: forward and backward time per layer and in total (like `caffe time`),
// training and inference images/s, achieved GFLOP/s and peak resident memory.
#include <sys/resource.h>

#include <omp.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>

#include "framework/checkpoint.h"
#include "framework/passes.h"
#include "framework/optimizer.h"
#include "framework/proto_io.h"
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

void time_model(const TimeArgs& a) {
  apply_threads(a.threads);
  const std::string path = model_path(a.model);
  // Built at the batch asked for, so that the peak memory is this batch's alone.
  onebyone::NetParameter net = read_net(path);
  for (auto& layer : *net.mutable_layer())
    if (layer.has_input_param())
      for (auto& shape : *layer.mutable_input_param()->mutable_shape())
        if (shape.dim_size() > 0) shape.set_dim(0, a.batch);
  Graph graph(net, GraphOptions::seeded(1));
  const NetRoles roles = find_roles(graph);
  Tensor& images = graph.value(roles.images);
  for (size_t i = 0; i < images.size(); ++i) images.data()[i] = normal(1, 0, i);
  Tensor& labels = graph.value(roles.labels);
  for (int64_t i = 0; i < labels.count(); ++i) labels.data()[i] = static_cast<float>(random_bits(1, 1, i) % 10);
  onebyone::SolverParameter solver;  // SGD with momentum: one pass over parameters, state and gradients
  auto optimizer = make_optimizer(solver, graph);

  const size_t n = graph.num_layers();
  std::vector<double> fwd(n, 0), bwd(n, 0);
  double update = 0;
  // The measured steps' wall time, apart from the per-layer times it holds: their sum is what
  // the layers and the update take, this what a step takes.
  Clock::time_point first_measured;
  for (int it = -a.warmup; it < a.iterations; ++it) {
    const bool measured = it >= 0;
    if (it == 0) first_measured = Clock::now();
    const Context ctx = Context::training(1, static_cast<uint64_t>(it + a.warmup));
    for (size_t i = 0; i < n; ++i) {
      const auto t0 = Clock::now();
      graph.forward_layer(i, ctx);
      if (measured) fwd[i] += seconds(t0, Clock::now());
    }
    for (size_t i = n; i-- > 0;) {
      const auto t0 = Clock::now();
      graph.backward_layer(i);
      if (measured) bwd[i] += seconds(t0, Clock::now());
    }
    const auto t0 = Clock::now();
    optimizer->step(it + a.warmup);
    if (measured) update += seconds(t0, Clock::now());
  }
  const double step = seconds(first_measured, Clock::now()) / a.iterations;
  // Inference as `test` and `predict` run it: BatchNorm folded into the convolutions, on an
  // inference graph (inference primitives, no workspaces, dropout an alias, no gradients).
  onebyone::Checkpoint trained;
  *trained.mutable_net() = net;
  store_params(graph, &trained);
  Graph deployed = inference_graph(trained);
  deployed.value(roles.images).assign_plain(graph.value(roles.images).to_plain());
  double inference = 0;
  for (int it = -a.warmup; it < a.iterations; ++it) {
    const auto t0 = Clock::now();
    deployed.forward(Context::evaluation());
    if (it >= 0) inference += seconds(t0, Clock::now());
  }

  double total_fwd = 0, total_bwd = 0;
  for (size_t i = 0; i < n; ++i) {
    total_fwd += fwd[i];
    total_bwd += bwd[i];
  }
  const int64_t macs = graph.multiply_adds();
  const double train_rate = a.batch / step, infer_rate = a.batch * a.iterations / inference;
  // Backward of a convolution or FC layer costs two forwards (data and weight gradients).
  const double gflops = 3.0 * 2.0 * static_cast<double>(macs) / step * 1e-9;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double peak_rss_mb = usage.ru_maxrss / 1024.0;
  const int threads = omp_get_max_threads();

  if (a.json) {
    // Per layer too, so that bench/profile can set where our step goes beside PyTorch's.
    nlohmann::json layers = nlohmann::json::array();
    for (size_t i = 0; i < n; ++i)
      layers.push_back({{"name", graph.layer(i).name()},
                        {"type", graph.layer(i).type()},
                        {"forward_ms", 1e3 * fwd[i] / a.iterations},
                        {"backward_ms", 1e3 * bwd[i] / a.iterations}});
    std::cout << nlohmann::json{{"model", a.model},
                                {"batch", a.batch},
                                {"threads", threads},
                                {"iterations", a.iterations},
                                {"train_images_per_s", train_rate},
                                {"infer_images_per_s", infer_rate},
                                {"gflops", gflops},
                                {"peak_rss_mb", peak_rss_mb},
                                {"forward_ms", 1e3 * total_fwd / a.iterations},
                                {"backward_ms", 1e3 * total_bwd / a.iterations},
                                {"update_ms", 1e3 * update / a.iterations},
                                {"step_ms", 1e3 * step},
                                {"layers", layers}}
                     .dump()
              << "\n";
    return;
  }
  std::cout << fmt::format("{}: batch {}, {} threads, {} iterations after {} warm-up\n\n", path, a.batch, threads,
                           a.iterations, a.warmup);
  std::cout << fmt::format("{:<16} {:<20} {:>12} {:>12}\n", "layer", "type", "forward ms", "backward ms");
  for (size_t i = 0; i < n; ++i)
    std::cout << fmt::format("{:<16} {:<20} {:>12.3f} {:>12.3f}\n", graph.layer(i).name(),
                             graph.layer(i).description(),
                             1e3 * fwd[i] / a.iterations, 1e3 * bwd[i] / a.iterations);
  std::cout << fmt::format("{:<37} {:>12.3f} {:>12.3f}\n", "total", 1e3 * total_fwd / a.iterations,
                           1e3 * total_bwd / a.iterations);
  std::cout << fmt::format("\noptimizer step {:.3f} ms; training step {:.2f} ms = {:.0f} images/s; {:.1f} GFLOP/s\n",
                           1e3 * update / a.iterations, 1e3 * step, train_rate, gflops);
  std::cout << fmt::format("inference (eval mode) {:.0f} images/s; peak resident memory {:.0f} MB\n", infer_rate, peak_rss_mb);
}

}  // namespace

void add_time(CLI::App& app) {
  auto args = std::make_shared<TimeArgs>();
  CLI::App* cmd = app.add_subcommand("time", "Time forward and backward per layer, training and inference throughput");
  cmd->add_option("model", args->model, "Model file or name in models/")->required();
  cmd->add_option("--batch", args->batch, "Batch size")->capture_default_str()->check(at_least(1));
  cmd->add_option("--iterations", args->iterations, "Measured iterations")->capture_default_str()->check(at_least(1));
  cmd->add_option("--warmup", args->warmup, "Unmeasured iterations first")->capture_default_str()->check(at_least(0));
  cmd->add_flag("--json", args->json, "Print one JSON object");
  add_threads_option(cmd, &args->threads);
  cmd->callback([args] { time_model(*args); });
}

}  // namespace obo::cli
