// The memory planner on its own (framework/memory_plan.h): tensors alive together never overlap,
// the arena is at least the largest live set, and the greedy placement stays close to it, on
// random lifetimes and on every shipped model's training step. And the lifetimes a graph gives
// its values (framework/graph_memory.h).
#include <catch2/catch.hpp>

#include <filesystem>

#include "framework/graph.h"
#include "framework/memory_plan.h"
#include "framework/random.h"
#include "tests/test_util.h"

using namespace obo;
using namespace obo::test;

namespace {

void check_plan(const std::vector<Lifetime>& tensors, const MemoryPlan& plan) {
  REQUIRE(plan.offsets.size() == tensors.size());
  for (size_t a = 0; a < tensors.size(); ++a) {
    CHECK(plan.offsets[a] % MemoryPlan::kAlign == 0);
    CHECK(plan.offsets[a] + tensors[a].size <= plan.arena);
    for (size_t b = a + 1; b < tensors.size(); ++b)
      if (alive_together(tensors[a], tensors[b])) {
        INFO("tensors " << a << " and " << b);
        CHECK((plan.offsets[a] + tensors[a].size <= plan.offsets[b] || plan.offsets[b] + tensors[b].size <= plan.offsets[a]));
      }
  }
  CHECK(plan.arena >= largest_live_set(tensors));
}

}  // namespace

TEST_CASE("the largest live set is the most floats alive at one step", "[memory]") {
  // 0: steps 0-3, 1: 2-5, 2: 4-4 and 7-8 (recomputed), 3: 6-9.
  const std::vector<Lifetime> t = {{100, {{0, 3}}}, {50, {{2, 5}}}, {30, {{4, 4}, {7, 8}}}, {70, {{6, 9}}}};
  CHECK(largest_live_set(t) == 150);  // steps 2-3: 100 + 50
  CHECK(alive_together(t[0], t[1]));
  CHECK_FALSE(alive_together(t[0], t[2]));
  CHECK(alive_together(t[2], t[3]));  // its second span
  CHECK_FALSE(alive_together(t[1], t[3]));
  const MemoryPlan plan = plan_memory(t);
  check_plan(t, plan);
  // Largest first: 0 at 0; 3 at 0 too (never alive with 0); 1 after 0, at the next 64-byte line
  // (112); 2 in the gap between 3 and 1 (80 to 110).
  CHECK(plan.offsets == std::vector<size_t>{0, 112, 80, 0});
  CHECK(plan.arena == 162);
}

TEST_CASE("random lifetimes: nothing alive together overlaps, and the arena stays near the live set", "[memory]") {
  double worst = 1;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    std::vector<Lifetime> tensors(5 + random_bits(seed, 0, 0) % 40);
    const size_t steps = 4 + random_bits(seed, 1, 0) % 60;
    for (size_t t = 0; t < tensors.size(); ++t) {
      tensors[t].size = 1 + random_bits(seed, 2, t) % 5000;
      const size_t first = random_bits(seed, 3, t) % steps;
      const size_t last = first + random_bits(seed, 4, t) % (steps - first);
      tensors[t].spans = {{first, last}};
      if (random_bits(seed, 5, t) % 4 == 0 && last + 2 < steps)  // recomputed: alive again later
        tensors[t].spans.push_back({last + 2, last + 2 + random_bits(seed, 6, t) % (steps - last - 2)});
    }
    const MemoryPlan plan = plan_memory(tensors);
    INFO("seed " << seed);
    check_plan(tensors, plan);
    worst = std::max(worst, static_cast<double>(plan.arena) / largest_live_set(tensors));
  }
  INFO("worst arena / largest live set: " << worst);
  CHECK(worst < 1.5);
}

TEST_CASE("every shipped model's training step is planned within 25% of its largest live set", "[memory][models]") {
  for (const auto& entry : std::filesystem::directory_iterator(ONEBYONE_SOURCE_DIR "/models")) {
    const std::string path = entry.path().string();
    if (path.size() < 10 || path.substr(path.size() - 9) != ".prototxt" || path.find(".solver.") != std::string::npos)
      continue;
    INFO(path);
    Graph g(read_net(path));
    if (g.largest_live_floats() == 0) continue;  // no backward pass (the reduction examples): nothing is planned
    WARN(entry.path().filename().string() << ": arena " << g.arena_floats() << " floats, largest live set "
                                          << g.largest_live_floats() << ", ratio "
                                          << static_cast<double>(g.arena_floats()) / g.largest_live_floats());
    CHECK(g.arena_floats() >= g.largest_live_floats());
    CHECK(g.arena_floats() <= 1.25 * g.largest_live_floats());
  }
}

TEST_CASE("a training graph owns what the caller reads, recomputes NIN's first convolution, and keeps each value to its last reader", "[memory]") {
  const Graph g(read_net(model_path("nin")));
  const ir::Net& net = g.net();
  const size_t n = net.nodes.size();
  for (const char* owned : {"data", "label", "score", "loss", "accuracy"}) CHECK(net.blobs.at(owned)->owned);
  CHECK(net.blobs.at("conv1")->recomputed);  // 9 multiply-adds an output, from the images
  size_t planned = 0;
  for (const auto& [name, b] : net.blobs) {
    INFO(name);
    CHECK(b->recomputed == (name == "conv1"));
    if (b->owned) continue;
    ++planned;
    CHECK(b->last_use >= b->last_forward);
    if (b->first_backward == SIZE_MAX) continue;  // no backward pass reads it
    CHECK(b->first_backward >= n);  // a backward step (framework/memory_plan.h)
    CHECK(b->last_use >= b->first_backward);
  }
  CHECK(planned > 5);
  // Where a value's readers are, its lifetime reaches: the forward of each reader, and the
  // backward of each that says its backward reads it.
  for (size_t i = 0; i < n; ++i) {
    const ir::Node& node = net.nodes[i];
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      const ir::Blob* b = node.inputs[k];
      if (b->owned) continue;
      CHECK(b->last_use >= i);
      if (node.runs_backward && node.layer->backward_reads_input(k)) CHECK(b->last_use >= backward_step(n, i));
    }
  }
}

TEST_CASE("a value a metric reads is owned, as a loss's is: the caller reports it", "[memory]") {
  const Graph g(parse_net(R"(
    layer { name: 'in' type: 'Input' output: 'x' output: 'label' input_param { shape { dim: 4 dim: 6 } shape { dim: 4 } } }
    layer { name: 'fc1' type: 'FC' input: 'x' output: 'f1' fc { num_output: 5 } }
    layer { name: 'sig' type: 'Sigmoid' input: 'f1' output: 's' }
    layer { name: 'fc2' type: 'FC' input: 's' output: 'score' fc { num_output: 5 } }
    layer { name: 'loss' type: 'SoftmaxCrossEntropy' input: 'score' input: 'label' output: 'loss' }
    layer { name: 'early' type: 'Accuracy' input: 'f1' input: 'label' output: 'early' })"));
  CHECK(g.net().blobs.at("f1")->owned);
  CHECK_FALSE(g.net().blobs.at("s")->owned);
}

TEST_CASE("an inference graph owns every value and plans none", "[memory]") {
  const Graph g(read_net(model_path("nin")), GraphOptions::inference());
  for (const auto& [name, b] : g.net().blobs) {
    INFO(name);
    CHECK(b->owned);
  }
  CHECK(g.arena_floats() == 0);
}
