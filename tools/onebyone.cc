// onebyone: train, evaluate, inspect and time OneByOne models on MNIST.
//   onebyone train nin                  train models/nin.prototxt with models/nin.solver.prototxt
//   onebyone test nin runs/nin/best.ckpt
//   onebyone summary nin --input 1,1,28,28
// `onebyone --help` and `onebyone CMD --help` describe every command.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "framework/error.h"
#include "framework/registry.h"
#include "tools/common.h"

namespace {

// --plugin LIB (any number, before or after the command) and ONEBYONE_PLUGINS=LIB:LIB, loaded
// before the command reads a model: their layers register, their parameter messages join the
// schema. A library named twice (by any paths) is loaded once.
void load_plugins(std::vector<std::string> paths) {
  if (const char* env = std::getenv("ONEBYONE_PLUGINS"))
    for (const auto& path : CLI::detail::split(env, ':'))
      if (!path.empty()) paths.push_back(path);
  for (const std::string& path : paths) obo::load_plugin(path);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"OneByOne: 1x1 convolutions, Network-in-Network and Inception on MNIST, on oneDNN"};
  app.require_subcommand(1);
  std::vector<std::string> plugins;
  app.add_option("--plugin", plugins, "Load layers from this shared library (repeatable; also ONEBYONE_PLUGINS=LIB:LIB)");
  app.fallthrough();  // `onebyone train MODEL --plugin LIB` as well as `onebyone --plugin LIB train MODEL`
  app.parse_complete_callback([&] { load_plugins(plugins); });
  obo::cli::add_train(app);
  obo::cli::add_test(app);
  obo::cli::add_predict(app);
  obo::cli::add_summary(app);
  obo::cli::add_time(app);
  obo::cli::add_compare(app);
  obo::cli::add_cost(app);
  obo::cli::add_visualize(app);
  obo::cli::add_graph(app);
  obo::cli::add_export(app);
  obo::cli::add_import(app);
  obo::cli::add_quantize(app);
  for (CLI::App* cmd : app.get_subcommands({}))
    cmd->footer("Every command takes --plugin LIB (any number of times; or ONEBYONE_PLUGINS=LIB:LIB): layers from a "
                "shared library, loaded before the model is read.");
  if (argc > 1 && argv[1][0] != '-') {
    std::vector<std::string> names;
    for (const CLI::App* cmd : app.get_subcommands({})) names.push_back(cmd->get_name());
    if (std::find(names.begin(), names.end(), argv[1]) == names.end()) {
      std::fprintf(stderr, "error: unknown command '%s' (commands: %s)\nRun with --help for more information.\n",
                   argv[1], fmt::format("{}", fmt::join(names, ", ")).c_str());
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // a command's own non-zero status, already explained
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const obo::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
