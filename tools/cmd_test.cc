// onebyone test [MODEL] CKPT: accuracy, per-class accuracy and the confusion matrix on the test
// set, of the checkpoint's net (a MODEL given beside it must describe the same net).
#include <algorithm>
#include <iostream>

#include "framework/checkpoint.h"
#include "framework/inference.h"
#include "framework/proto_io.h"
#include "framework/trainer.h"
#include "tools/common.h"

namespace obo::cli {
namespace {

struct TestArgs {
  std::vector<std::string> files;  // [MODEL] CKPT
  std::string data;
  int threads = 0, batch = 1000;
  int64_t test_size = 0;
};

void test(const TestArgs& a) {
  apply_threads(a.threads);
  const onebyone::Checkpoint checkpoint = checkpoint_of(a.files, "test");
  const Dataset data = load(a.data, "t10k", a.test_size);
  Graph graph = inference_graph(checkpoint, std::min<int64_t>(a.batch, data.count));
  const Evaluation e = evaluate(graph, data, a.batch);
  std::cout << fmt::format("test accuracy {:.2f}% ({} of {}), loss {:.4f}\n\n", 100 * e.accuracy,
                           static_cast<int64_t>(e.accuracy * e.count + 0.5), e.count, e.loss);
  // Rows by class, named where the data set names its classes; columns by class number.
  const int k = data.classes;
  size_t width = 0;
  for (int i = 0; i < k; ++i) width = std::max(width, class_label(data.class_names, i).size());
  std::cout << "confusion matrix (rows: true class, columns: predicted class)\n" << std::string(width, ' ');
  for (int j = 0; j < k; ++j) std::cout << fmt::format("{:>6}", j);
  std::cout << "   accuracy\n";
  for (int i = 0; i < k; ++i) {
    int64_t row = 0;
    std::cout << fmt::format("{:<{}}", class_label(data.class_names, i), width);
    for (int j = 0; j < k; ++j) {
      std::cout << fmt::format("{:>6}", e.confusion[i * k + j]);
      row += e.confusion[i * k + j];
    }
    std::cout << fmt::format("   {:6.2f}%\n", row ? 100.0 * e.confusion[i * k + i] / row : 0.0);
  }
}

}  // namespace

void add_test(CLI::App& app) {
  auto args = std::make_shared<TestArgs>();
  CLI::App* cmd = app.add_subcommand("test", "Evaluate a checkpoint on a data set's test images (default: MNIST's)");
  add_checkpoint_option(cmd, &args->files);
  add_data_option(cmd, &args->data);
  cmd->add_option("--batch", args->batch, "Evaluation batch size")->capture_default_str()->check(at_least(1));
  cmd->add_option("--test-size", args->test_size, "Use only the first N test images")->check(at_least(1));
  add_threads_option(cmd, &args->threads);
  cmd->callback([args] { test(*args); });
}

}  // namespace obo::cli
