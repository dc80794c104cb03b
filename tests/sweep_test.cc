// `compare` across training-set sizes and seeds: the table, CSV, JSON and picture of a small
// sweep (error bars drawn where the seeds differ), one subset of images per size for every model,
// an interrupted sweep resumed without running a finished cell again, and bad input refused
// before any training, an earlier sweep left as it was. And data sets by name.
#include <catch2/catch.hpp>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "framework/io.h"
#include "tests/test_util.h"
#include "tests/tool.h"

using namespace obo;
using namespace obo::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string bytes_of(const std::string& path) { return read_file(path, int64_t{1} << 30, "file"); }

// Two models, two sizes, two seeds: 8 cells of `steps` steps on 300 test digits.
std::string small_sweep(const std::string& out, int steps = 30, int seeds = 2) {
  std::ofstream(out + ".solver.prototxt")
      << "optimizer: ADAM base_lr: 0.003 schedule: COSINE warmup_iter: 5 batch_size: 32 epochs: 1 augment_shift: 1\n";
  return fmt::format("compare lenet inception --solver {0}.solver.prototxt --train-sizes 320,160 --seeds {3} --steps {1} "
                     "--test-size 300 --out {0} --data {2}",
                     out, steps, mnist_dir(), seeds);
}

struct Segment {
  double x0, y0, x1, y1;
};

// The straight segments of an SVG path ("M x,y L x,y M ..."), and the points a plot marks
// ("<use ... transform='translate(x,y) ...'>"), per gnuplot plot group, by the group's title.
struct Plot {
  std::vector<Segment> segments;
  std::vector<std::pair<double, double>> points;
};

void collect(xmlNode* node, Plot& plot) {
  for (xmlNode* n = node; n; n = n->next) {
    if (n->type != XML_ELEMENT_NODE) continue;
    const std::string name = reinterpret_cast<const char*>(n->name);
    if (name == "path") {
      xmlChar* d = xmlGetProp(n, BAD_CAST "d");
      const std::string path = d ? reinterpret_cast<const char*>(d) : "";
      xmlFree(d);
      const std::regex move(R"(M\s*([-\d.]+),([-\d.]+)\s*L\s*([-\d.]+),([-\d.]+))");
      for (std::sregex_iterator m(path.begin(), path.end(), move), end; m != end; ++m)
        plot.segments.push_back({std::stod((*m)[1]), std::stod((*m)[2]), std::stod((*m)[3]), std::stod((*m)[4])});
    } else if (name == "use") {
      xmlChar* t = xmlGetProp(n, BAD_CAST "transform");
      const std::string transform = t ? reinterpret_cast<const char*>(t) : "";
      xmlFree(t);
      std::smatch m;
      if (std::regex_search(transform, m, std::regex(R"(translate\(([-\d.]+),([-\d.]+)\))")))
        plot.points.emplace_back(std::stod(m[1]), std::stod(m[2]));
    }
    collect(n->children, plot);
  }
}

// gnuplot's SVG: each plot is a group "gnuplot_plot_<k><panel>".
std::map<std::string, Plot> plots_of(const std::string& svg_path) {
  std::map<std::string, Plot> plots;
  xmlDocPtr svg = xmlReadFile(svg_path.c_str(), nullptr, XML_PARSE_NONET | XML_PARSE_NOERROR);
  REQUIRE(svg != nullptr);
  std::function<void(xmlNode*)> walk = [&](xmlNode* node) {
    for (xmlNode* n = node; n; n = n->next) {
      if (n->type != XML_ELEMENT_NODE) continue;
      xmlChar* id = xmlGetProp(n, BAD_CAST "id");
      const std::string group = id ? reinterpret_cast<const char*>(id) : "";
      xmlFree(id);
      if (group.rfind("gnuplot_plot_", 0) == 0)
        collect(n->children, plots[group]);
      else
        walk(n->children);
    }
  };
  walk(xmlDocGetRootElement(svg));
  xmlFreeDoc(svg);
  return plots;
}

}  // namespace

TEST_CASE("a sweep writes its table, CSV, JSON and picture, with one subset of images per size", "[experiments][sweep][mnist]") {
  const std::string out = scratch_dir("sweep") + "/run";
  const ToolRun r = run_tool(small_sweep(out));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("shifts of up to 1 pixels (0: none), 2 seed(s): 8 cells of about 30 steps of 32 images"));
  CHECK_THAT(r.output, Catch::Contains("[8/8] inception on 320 images, seed 2: test "));

  // Sizes ascending, a row per model and size.
  std::istringstream csv(bytes_of(out + "/summary.csv"));
  std::string line;
  std::getline(csv, line);
  CHECK(line == "model,shift,train_size,parameters,mflops_per_image,epochs,steps,seeds,diverged,final_test_mean,"
                "final_test_std,best_test_mean,best_test_std,final_train_mean,final_train_std,gap_mean,gap_std,"
                "images_per_second");
  std::vector<std::string> rows;
  while (std::getline(csv, line)) rows.push_back(line.substr(0, line.find(',', line.find(',', line.find(',') + 1) + 1)));
  CHECK(rows == std::vector<std::string>{"lenet,1,160", "inception,1,160", "lenet,1,320", "inception,1,320"});

  const json summary = json::parse(bytes_of(out + "/summary.json"));
  REQUIRE(summary["rows"].size() == 4);
  for (const json& row : summary["rows"]) {
    CHECK(row["seeds"] == 2);
    CHECK(row["diverged"] == 0);
    // 30 steps: 6 epochs of 5 steps at 160 images, 3 of 10 at 320.
    CHECK(row["steps"] == 30);
    CHECK(row["epochs"] == (row["train_size"] == 160 ? 6 : 3));
    const double train = row["final_train"]["mean"], test = row["final_test"]["mean"];
    CHECK(row["gap"]["mean"].get<double>() == Approx(train - test));
  }
  // One subset per size: every model and seed trained on the same images at a size, not at another.
  std::map<int64_t, std::set<std::string>> subsets;
  REQUIRE(summary["cells"].size() == 8);
  for (const json& cell : summary["cells"]) subsets[cell["train_size"]].insert(cell["data_fingerprint"]);
  CHECK(subsets[160].size() == 1);
  CHECK(subsets[320].size() == 1);
  CHECK(*subsets[160].begin() != *subsets[320].begin());
  CHECK_THAT(summary["caption"].get<std::string>(), Catch::Contains("Every cell trains about 30 steps"));

  // The picture: two panels, a line per model with a point per size, and where the seeds differ,
  // an error bar through the point.
  CHECK(png_size(out + "/sweep.png") == std::pair<uint32_t, uint32_t>{1400, 620});
  const auto plots = plots_of(out + "/sweep.svg");
  for (const char* panel : {"a", "b"})
    for (int model : {1, 2}) {
      const std::string group = fmt::format("gnuplot_plot_{}{}", model, panel);
      INFO(group);
      REQUIRE(plots.count(group));
      const Plot& plot = plots.at(group);
      REQUIRE(plot.points.size() == 3);  // two sizes, and the key's sample
      // The data's standard deviations, in the order of the points.
      std::ifstream dat(fmt::format("{}/sweep-{}-shift1.dat", out, model == 1 ? "lenet" : "inception"));
      std::getline(dat, line);
      for (int p = 0; p < 2; ++p) {
        double size, test, test_sd, gap, gap_sd;
        dat >> size >> test >> test_sd >> gap >> gap_sd;
        const double sd = std::string(panel) == "a" ? test_sd : gap_sd;
        if (sd == 0) continue;
        const auto [x, y] = plot.points[p];
        const bool bar = std::any_of(plot.segments.begin(), plot.segments.end(), [&](const Segment& s) {
          return std::abs(s.x0 - x) < 0.01 && std::abs(s.x1 - x) < 0.01 && s.y0 != s.y1 &&
                 std::min(s.y0, s.y1) <= y + 0.01 && std::max(s.y0, s.y1) >= y - 0.01;
        });
        CHECK(bar);
      }
    }
}

TEST_CASE("an interrupted sweep resumes with --resume, running no finished cell again", "[experiments][sweep][mnist]") {
  const std::string dir = scratch_dir("sweep_resume"), out = dir + "/run", log = dir + "/log";
  std::ofstream(log).close();
  // Four cells of 300 steps (a second or more each): the interrupt, once the first has ended,
  // comes in the second.
  const std::string command = small_sweep(out, 300, 1);
  Child sweep(start_tool(command, log));
  for (int i = 0; i < 30000 && bytes_of(log).find("[1/4]") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE_THAT(bytes_of(log), Catch::Contains("[1/4] lenet on 160 images, seed 1: test "));
  kill(sweep.pid(), SIGINT);
  CHECK(sweep.wait() == 130);
  INFO(bytes_of(log));
  CHECK_THAT(bytes_of(log), Catch::Contains("[2/4] inception on 160 images, seed 1: stopped; continue the sweep with the "
                                            "same command and --resume"));
  const std::string first = out + "/lenet/shift1/n160/seed1/result.json";
  REQUIRE(fs::exists(first));
  const std::string finished = bytes_of(first);
  const auto written = fs::last_write_time(first);
  CHECK(fs::exists(out + "/inception/shift1/n160/seed1/last.ckpt"));  // the stopped cell's position
  CHECK_FALSE(fs::exists(out + "/inception/shift1/n160/seed1/result.json"));

  // The same command again is refused; another sweep under --resume is refused, naming the difference.
  const ToolRun again = run_tool(command);
  CHECK(again.status == 1);
  CHECK_THAT(again.output, Catch::Contains("already holds a comparison or a run") && Catch::Contains("add --resume"));
  const ToolRun other = run_tool(command.substr(0, command.find("--train-sizes")) + "--train-sizes 320 " +
                                 command.substr(command.find("--seeds")) + " --resume");
  CHECK(other.status == 1);
  CHECK_THAT(other.output, Catch::Contains("was run with another train_sizes ([160,320] then, [320] now)"));

  const ToolRun resumed = run_tool(command + " --resume", "", 600);
  INFO(resumed.output);
  REQUIRE(resumed.status == 0);
  CHECK_THAT(resumed.output, Catch::Contains("[1/4] lenet on 160 images, seed 1: done before"));
  CHECK_THAT(resumed.output, Catch::Contains("[2/4] inception on 160 images, seed 1: test "));
  CHECK(bytes_of(first) == finished);
  CHECK(fs::last_write_time(first) == written);
  CHECK(json::parse(bytes_of(out + "/summary.json"))["cells"].size() == 4);
}

TEST_CASE("bad sizes, seeds and data sets are refused before any training, and an earlier sweep is kept", "[experiments][sweep][errors][mnist]") {
  const std::string out = scratch_dir("sweep_errors") + "/run";
  REQUIRE(run_tool(small_sweep(out)).status == 0);
  const std::string summary = bytes_of(out + "/summary.json");
  const std::string base = "compare lenet inception --steps 30 --test-size 300 --out " + out;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--train-sizes 0", "--train-sizes: must be a whole number, at least 1; got '0'"},
      {"--train-sizes 100,-5", "--train-sizes: must be a whole number, at least 1; got '-5'"},
      {"--train-sizes 1k", "--train-sizes: must be a whole number, at least 1; got '1k'"},
      {"--train-sizes 1000,70000", "error: --train-sizes: 70000 is more than the 60000 training images of"},
      {"--seeds 0", "--seeds: must be a whole number, at least 1; got '0'"},
      {"--data fashion", "error: no data set or folder 'fashion' (data sets: "},
      {"--train-sizes 320,160", "error: --out '" + out + "' already holds a comparison or a run"},
  };
  for (const auto& [args, message] : cases) {
    const ToolRun r = run_tool(base + " " + args + (args.rfind("--data", 0) == 0 ? "" : " --data " + mnist_dir()));
    INFO(args << "\n" << r.output);
    CHECK(r.status != 0);
    CHECK_THAT(r.output, Catch::Contains(message));
    CHECK_THAT(r.output, !Catch::Contains("[1/"));  // no cell started
  }
  // A damaged data set: Fashion-MNIST with its test images cut short.
  const std::string damaged = scratch_dir("fashion_damaged");
  for (const auto& entry : fs::directory_iterator(fashion_mnist_dir())) fs::copy(entry.path(), damaged);
  fs::resize_file(damaged + "/t10k-images-idx3-ubyte", 1000);
  const ToolRun r = run_tool(base + " --data " + damaged);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains(damaged + "/t10k-images-idx3-ubyte: the header promises 7840000 bytes of images, "
                                                 "the file holds 984"));
  CHECK(bytes_of(out + "/summary.json") == summary);
}

TEST_CASE("a cell that diverges is reported in the table, not dropped", "[experiments][sweep][mnist]") {
  const std::string out = scratch_dir("sweep_diverged") + "/run";
  // SGD at rate 300: LeNet diverges within its first steps; Inception's BatchNorm-free net too.
  std::ofstream(out + ".solver.prototxt") << "base_lr: 300 momentum: 0.9 batch_size: 32 epochs: 1\n";
  const ToolRun r = run_tool(fmt::format("compare lenet inception --solver {0}.solver.prototxt --train-sizes 160 --seeds 2 "
                                         "--steps 20 --test-size 100 --out {0} --data {1}",
                                         out, mnist_dir()));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("[1/4] lenet on 160 images, seed 1: diverged (training diverged at step "));
  const json summary = json::parse(bytes_of(out + "/summary.json"));
  const json& lenet = summary["rows"][0];
  CHECK(lenet["model"] == "lenet");
  CHECK(lenet["diverged"] == 2);
  CHECK(lenet["seeds"] == 0);
  // No seed ended: no mean, where a 0 would pass for a figure.
  CHECK(lenet["final_test"]["mean"].is_null());
  std::istringstream lines(r.output);
  std::string line;
  while (std::getline(lines, line) && line.rfind("lenet ", 0) != 0) {
  }
  CHECK_THAT(line, Catch::Matches("lenet +0 +160 .* 2 +- +- +- +- +-"));
  CHECK(std::count_if(summary["cells"].begin(), summary["cells"].end(), [](const json& c) { return c.contains("diverged"); }) >= 2);
}
