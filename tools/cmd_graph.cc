// onebyone graph MODEL: the layer graph in Graphviz DOT, each edge labelled with the shape of
// the blob it carries (C,H,W); with --out F.dot, also F.svg where Graphviz's `dot` is installed.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <vector>

#include "framework/graph.h"
#include "framework/io.h"
#include "framework/proto_io.h"
#include "tools/common.h"

namespace obo::cli {
namespace {

struct GraphArgs {
  std::string model, out;
};

std::string shape_label(const Shape& s) {
  if (s.size() < 2) return "(N)";  // labels, a loss
  return to_string(Shape(s.begin() + 1, s.end()));  // per example: without the batch
}

std::string dot_of(Graph& graph, const std::string& name) {
  std::map<std::string, size_t> producer;  // blob -> layer
  for (size_t i = 0; i < graph.num_layers(); ++i)
    for (const std::string& out : graph.output_names_of(i)) producer[graph.resolve(out)] = i;
  std::string dot = fmt::format("digraph \"{}\" {{\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef3fb\", fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n", name);
  for (size_t i = 0; i < graph.num_layers(); ++i) {
    const Layer& layer = graph.layer(i);
    dot += fmt::format("  L{} [label=\"{}\\n{}\"{}];\n", i, layer.name(), layer.description(),
                       layer.pointwise() ? ", fillcolor=\"#ffe9b3\"" : "");
  }
  // A concatenation that layers absorbed (they read the parts: Layer::absorb) is drawn as the
  // model has it, one node, dashed (numbered as its first reader), whose output goes into each.
  struct Absorbed {
    size_t first;
    std::vector<std::string> readers;
  };
  std::map<std::string, Absorbed> absorbed;  // by the concatenation's name
  for (size_t i = 0; i < graph.num_layers(); ++i)
    if (const Layer* concatenation = graph.layer(i).concatenation())
      absorbed.try_emplace(concatenation->name(), Absorbed{i, {}}).first->second.readers.push_back(graph.layer(i).name());
  for (size_t i = 0; i < graph.num_layers(); ++i) {
    const Layer* concatenation = graph.layer(i).concatenation();
    const size_t first = concatenation ? absorbed.at(concatenation->name()).first : i;
    const std::string reader = concatenation ? fmt::format("C{}", first) : fmt::format("L{}", i);
    Shapes parts;
    for (const std::string& blob : graph.input_names_of(i)) {
      parts.push_back(graph.value(blob).shape());
      if (first == i)
        dot += fmt::format("  L{} -> {} [label=\" {}\"];\n", producer.at(blob), reader, shape_label(parts.back()));
    }
    if (!concatenation) continue;
    if (first == i)
      dot += fmt::format("  C{} [label=\"{}\\n{}, fused into {}\", style=\"rounded,dashed\"];\n", i,
                         concatenation->name(), concatenation->type(),
                         fmt::join(absorbed.at(concatenation->name()).readers, ", "));
    dot += fmt::format("  C{} -> L{} [label=\" {}\"];\n", first, i,
                       shape_label(concatenation->output_shapes(parts)[0]));
  }
  return dot + "}\n";
}

void graph_command(const GraphArgs& a) {
  const onebyone::NetParameter net = read_net(model_path(a.model));
  Graph graph(net);
  graph.set_batch(1);
  const std::string dot = dot_of(graph, net.name());
  if (a.out.empty()) {
    std::cout << dot;
    return;
  }
  write_file(a.out, dot);
  std::cout << "wrote " << a.out << "\n";
  const std::string svg = a.out.substr(0, a.out.rfind('.')) + ".svg";
  if (std::system("command -v dot >/dev/null 2>&1") != 0) {
    std::cout << "Graphviz's dot is not installed: no SVG (apt-get install graphviz)\n";
    return;
  }
  write_file_with(svg, [&](const std::string& temporary) {
    const pid_t child = fork();
    if (child == 0) {
      execlp("dot", "dot", "-Tsvg", a.out.c_str(), "-o", temporary.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      fail("dot could not render '{}'", a.out);
  });
  std::cout << "wrote " << svg << "\n";
}

}  // namespace

void add_graph(CLI::App& app) {
  auto args = std::make_shared<GraphArgs>();
  CLI::App* cmd = app.add_subcommand("graph", "The layer graph in Graphviz DOT (and SVG), shapes on the edges");
  cmd->add_option("model", args->model, "Model file or name in models/")->required();
  cmd->add_option("--out", args->out, "DOT file to write (and an SVG beside it); default: print the DOT");
  cmd->callback([args] { graph_command(*args); });
}

}  // namespace obo::cli
