// Plugins: a library of layers loads and its types can be built; a path that is no library, a
// library without layers, one whose type, extension number or schema file another declared, and a
// parameter block on a layer of another type are each refused by name, in the library and by the
// tool, which never aborts; the same library by two paths loads once; a plugin path is a path.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>

#include "framework/registry.h"
#include "tests/test_util.h"
#include "tests/tool.h"

using namespace obo;
using namespace obo::test;
namespace fs = std::filesystem;

TEST_CASE("a plugin's layers load and build", "[plugin]") {
  CHECK(load_plugin(TEST_PLUGIN_IDENTITY) == std::vector<std::string>{"TestPluginIdentity"});
  CHECK(loaded_plugins().back() == TEST_PLUGIN_IDENTITY);
  Graph g(single_layer_net({{2, 3}}, "name: 'same' type: 'TestPluginIdentity' input: 'x0' output: 'y'"));
  randomize_inputs(g, 1);
  g.forward(Context::evaluation());
  CHECK(std::equal(g.value("x0").data(), g.value("x0").data() + 6, g.value("y").data()));
}

TEST_CASE("a plugin that cannot be loaded, has no layer or clashes is refused by name", "[plugin][errors]") {
  CHECK_THROWS_WITH(load_plugin("/nonexistent/libnothing.so"),
                    "cannot load plugin '/nonexistent/libnothing.so': no such file");
  const std::string text = scratch_dir("plugin") + "/libtext.so";
  std::ofstream(text) << "not a library\n";
  CHECK_THROWS_WITH(load_plugin(text), Catch::StartsWith("cannot load plugin '" + text + "': " + text + ": "));
  CHECK_THROWS_WITH(load_plugin(TEST_PLUGIN_NO_LAYER),
                    std::string("plugin '") + TEST_PLUGIN_NO_LAYER + "' registers no layer type (no REGISTER_LAYER in it?)");
  CHECK_THROWS_WITH(load_plugin(TEST_PLUGIN_CLASH),
                    std::string("plugin '") + TEST_PLUGIN_CLASH + "' registers layer type 'ReLU', which OneByOne already registered");
  // The library's own ReLU is still the one built.
  Graph g(single_layer_net({{1, 2}}, "name: 'r' type: 'ReLU' input: 'x0' output: 'y'"));
  g.value("x0").data()[0] = -1.f;
  g.value("x0").data()[1] = 2.f;
  g.forward(Context::evaluation());
  CHECK(g.value("y").data()[0] == 0.f);
  CHECK(g.value("y").data()[1] == 2.f);
  const std::vector<std::string> loaded = loaded_plugins();
  for (const char* refused : {TEST_PLUGIN_NO_LAYER, TEST_PLUGIN_CLASH})  // none of them counts as loaded
    CHECK(std::count(loaded.begin(), loaded.end(), refused) == 0);
}

TEST_CASE("the tool refuses a bad plugin with the reason and status 1", "[plugin][cli][errors]") {
  for (const std::string& plugin : {std::string(TEST_PLUGIN_CLASH), std::string(TEST_PLUGIN_NO_LAYER)}) {
    const ToolRun r = run_tool("summary lenet --plugin " + plugin);
    INFO(r.output);
    CHECK(r.status == 1);
    CHECK_THAT(r.output, Catch::StartsWith("error: plugin '" + plugin + "'"));
  }
  const ToolRun missing = run_tool("summary lenet", "", 300, "export ONEBYONE_PLUGINS=/nonexistent/libnothing.so");
  CHECK(missing.status == 1);
  CHECK_THAT(missing.output, Catch::Contains("cannot load plugin '/nonexistent/libnothing.so'"));
}

namespace {

std::string copy_of(const std::string& library, const std::string& name) {
  const std::string copy = scratch_dir("plugin-copy") + "/" + name;
  fs::copy_file(library, copy, fs::copy_options::overwrite_existing);
  return copy;
}

const std::string kInput = "layer { name: 'in' type: 'Input' output: 'x' input_param { shape { dim: 2 dim: 3 } } }\n";

}  // namespace

TEST_CASE("the same plugin by two paths is loaded once", "[plugin]") {
  load_plugin(TEST_PLUGIN_SCALED);
  const size_t loaded = loaded_plugins().size();
  const std::string link = scratch_dir("plugin-link") + "/libscaled-link.so";
  fs::create_symlink(TEST_PLUGIN_SCALED, link);
  CHECK(load_plugin(link) == std::vector<std::string>{"TestPluginScaled"});
  CHECK(load_plugin(fs::relative(TEST_PLUGIN_SCALED).string()) == std::vector<std::string>{"TestPluginScaled"});
  CHECK(loaded_plugins().size() == loaded);
}

TEST_CASE("a plugin's parameter block works on its layer and is refused on another type", "[plugin][errors]") {
  load_plugin(TEST_PLUGIN_SCALED);
  Graph g(parse_net(kInput + "layer { name: 's' type: 'TestPluginScaled' input: 'x' output: 'y' [scaled.scaled] { factor: 3 } }"));
  randomize_inputs(g, 1);
  g.forward(Context::evaluation());
  for (int i = 0; i < 6; ++i) CHECK(g.value("y").data()[i] == Approx(3 * g.value("x").data()[i]));
  CHECK_THROWS_WITH(Graph(parse_net(kInput + "layer { name: 'r' type: 'ReLU' input: 'x' output: 'y' [scaled.scaled] { factor: 3 } }")),
                    std::string("layer 'r' (ReLU): [scaled.scaled] is a parameter of TestPluginScaled (plugin '") +
                        TEST_PLUGIN_SCALED + "'), not of ReLU");
}

TEST_CASE("two plugins that claim one type, extension number or schema file are refused, naming both", "[plugin][errors]") {
  load_plugin(TEST_PLUGIN_IDENTITY);
  load_plugin(TEST_PLUGIN_SCALED);
  const std::string identity = copy_of(TEST_PLUGIN_IDENTITY, "libidentity-copy.so");
  CHECK_THROWS_WITH(load_plugin(identity), "plugin '" + identity + "' registers layer type 'TestPluginIdentity', which plugin '" +
                                               TEST_PLUGIN_IDENTITY + "' already registered");
  CHECK_THROWS_WITH(load_plugin(TEST_PLUGIN_NUMBER_CLASH),
                    std::string("plugin '") + TEST_PLUGIN_NUMBER_CLASH +
                        "' declares extension number 1900 of onebyone.LayerParameter, which plugin '" + TEST_PLUGIN_SCALED +
                        "' already declares as [scaled.scaled]: each plugin's parameters need a number of their own (1000 and up)");
  // A copy of a plugin with a schema declares its schema file a second time.
  const std::string scaled = copy_of(TEST_PLUGIN_SCALED, "libscaled-copy.so");
#ifdef __SANITIZE_ADDRESS__
  // AddressSanitizer ends the trial load first, on the copy's second definition of each global.
  CHECK_THROWS_WITH(load_plugin(scaled), Catch::StartsWith("plugin '" + scaled + "' cannot be loaded safely"));
#else
  CHECK_THROWS_WITH(load_plugin(scaled), Catch::StartsWith("plugin '" + scaled + "'") &&
                                             Catch::Contains(std::string("plugin '") + TEST_PLUGIN_SCALED + "'"));
#endif
  // None of them was loaded here: what loaded before works as it did.
  const std::vector<std::string> loaded = loaded_plugins();
  for (const std::string& refused : {identity, scaled, std::string(TEST_PLUGIN_NUMBER_CLASH)})
    CHECK(std::count(loaded.begin(), loaded.end(), refused) == 0);
  CHECK_NOTHROW(Graph(parse_net(kInput + "layer { name: 's' type: 'TestPluginScaled' input: 'x' output: 'y' [scaled.scaled] { factor: 3 } }")));
}

TEST_CASE("the testing helpers take a net without parameters", "[plugin][testing]") {
  Graph g(single_layer_net({{2, 3}}, "name: 'r' type: 'ReLU' input: 'x0' output: 'y'"));
  randomize_params(g, 1);
  randomize_inputs(g, 1);
  CHECK(g.param_values().empty());
}

TEST_CASE("the tool: a plugin is a path like any other, loaded once, and a model needing one says so", "[plugin][cli][errors]") {
  const std::string dir = scratch_dir("plugin-tool");
  const std::string model = dir + "/scaled.prototxt";
  std::ofstream(model) << kInput << "layer { name: 's' type: 'TestPluginScaled' input: 'x' output: 'y' [scaled.scaled] { factor: 3 } }\n";
  const fs::path plugin(TEST_PLUGIN_SCALED);
  // A bare file name, run in the folder that holds it.
  const ToolRun bare = run_tool("summary " + model + " --plugin " + plugin.filename().string(), plugin.parent_path().string());
  INFO(bare.output);
  CHECK(bare.status == 0);
  CHECK_THAT(bare.output, Catch::Contains("TestPluginScaled"));
  // By --plugin and by ONEBYONE_PLUGINS, by two paths.
  const ToolRun twice = run_tool("summary " + model + " --plugin " + plugin.string(), plugin.parent_path().string(), 300,
                                 "export ONEBYONE_PLUGINS=./" + plugin.filename().string());
  INFO(twice.output);
  CHECK(twice.status == 0);
  // Without it, the parser's error says what would define the block.
  const ToolRun without = run_tool("summary " + model);
  INFO(without.output);
  CHECK(without.status == 1);
  CHECK_THAT(without.output, Catch::Contains(model + ":2:") && Catch::Contains("\"scaled.scaled\" is not defined") &&
                                 Catch::Contains("no plugin is loaded: --plugin LIB or ONEBYONE_PLUGINS=LIB"));
  // Two plugins with one extension number: refused, not aborted.
  const ToolRun clash = run_tool("summary " + model + " --plugin " + plugin.string() + " --plugin " + TEST_PLUGIN_NUMBER_CLASH);
  INFO(clash.output);
  CHECK(clash.status == 1);
  CHECK_THAT(clash.output, Catch::Contains("declares extension number 1900") && Catch::Contains(plugin.string()));
  // Every command's help names --plugin.
  for (const char* command : {"train", "test", "predict", "summary", "time", "compare", "cost", "visualize", "graph"}) {
    INFO(command);
    CHECK_THAT(run_tool(std::string(command) + " --help").output, Catch::Contains("--plugin"));
  }
}
