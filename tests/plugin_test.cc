// Plugins: a library of layers loads and its types can be built; a path that is no library, a
// library without layers and one whose type clashes are each refused by name, in the library and
// by the tool.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>

#include "framework/registry.h"
#include "tests/test_util.h"
#include "tests/tool.h"

using namespace obo;
using namespace obo::test;

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
                    "cannot load plugin '/nonexistent/libnothing.so': /nonexistent/libnothing.so: cannot open shared "
                    "object file: No such file or directory");
  const std::string text = scratch_dir("plugin") + "/libtext.so";
  std::ofstream(text) << "not a library\n";
  CHECK_THROWS_WITH(load_plugin(text), Catch::StartsWith("cannot load plugin '" + text + "': " + text + ": "));
  CHECK_THROWS_WITH(load_plugin(TEST_PLUGIN_NO_LAYER),
                    std::string("plugin '") + TEST_PLUGIN_NO_LAYER + "' registers no layer type (no REGISTER_LAYER in it?)");
  CHECK_THROWS_WITH(load_plugin(TEST_PLUGIN_CLASH),
                    std::string("plugin '") + TEST_PLUGIN_CLASH + "' registers layer type 'ReLU', which is already registered");
  // The library's own ReLU is still the one built.
  Graph g(single_layer_net({{1, 2}}, "name: 'r' type: 'ReLU' input: 'x0' output: 'y'"));
  g.value("x0").data()[0] = -1.f;
  g.value("x0").data()[1] = 2.f;
  g.forward(Context::evaluation());
  CHECK(g.value("y").data()[0] == 0.f);
  CHECK(g.value("y").data()[1] == 2.f);
  for (const char* refused : {TEST_PLUGIN_NO_LAYER, TEST_PLUGIN_CLASH})  // none of them counts as loaded
    CHECK(std::count(loaded_plugins().begin(), loaded_plugins().end(), refused) == 0);
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
