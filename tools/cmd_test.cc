// onebyone test MODEL CKPT: accuracy, per-class accuracy and the confusion matrix on the test set.
#include <iostream>

#include "framework/checkpoint.h"
#include "framework/proto_io.h"
#include "framework/trainer.h"
#include "tools/common.h"

namespace obo::cli {
namespace {

struct TestArgs {
  std::string model, checkpoint, data;
  int threads = 0, batch = 1000;
  int64_t test_size = 0;
};

void test(const TestArgs& a) {
  apply_threads(a.threads);
  Graph graph(read_net(model_path(a.model)));
  restore_params(load_checkpoint(a.checkpoint), graph);
  const Dataset data = load(a.data, "t10k", a.test_size);
  const Evaluation e = evaluate(graph, data, a.batch);
  std::cout << fmt::format("test accuracy {:.2f}% ({} of {}), loss {:.4f}\n\n", 100 * e.accuracy,
                           static_cast<int64_t>(e.accuracy * e.count + 0.5), e.count, e.loss);
  const int k = data.classes;
  std::cout << "confusion matrix (rows: true digit, columns: predicted)\n      ";
  for (int j = 0; j < k; ++j) std::cout << fmt::format("{:>6}", j);
  std::cout << "   accuracy\n";
  for (int i = 0; i < k; ++i) {
    int64_t row = 0;
    std::cout << fmt::format("{:>6}", i);
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
  args->data = default_data_dir();
  CLI::App* cmd = app.add_subcommand("test", "Evaluate a checkpoint on the MNIST test set");
  cmd->add_option("model", args->model, "Model file or name in models/")->required();
  cmd->add_option("checkpoint", args->checkpoint, "Checkpoint with the weights")->required()->check(CLI::ExistingFile);
  cmd->add_option("--data", args->data, "Folder with the MNIST IDX files")->capture_default_str();
  cmd->add_option("--batch", args->batch, "Evaluation batch size")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--test-size", args->test_size, "Use only the first N test images")->check(CLI::PositiveNumber);
  add_threads_option(cmd, &args->threads);
  cmd->callback([args] { test(*args); });
}

}  // namespace obo::cli
