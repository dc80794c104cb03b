// A net's checkpoint whose BatchNorm running statistics have left their initial 0 and 1: three
// training-mode passes over real digits, so that inference folding and quantization have work to
// do. At the fillers' initial weights, or, with random_scale > 0, every parameter uniform in
// [-random_scale, random_scale) (biases too).
#pragma once

#include "framework/checkpoint.h"
#include "framework/data/dataset.h"
#include "framework/trainer.h"
#include "test_util.h"

namespace obo::test {

inline onebyone::Checkpoint moved_statistics(const onebyone::NetParameter& net, const Dataset& digits, uint64_t seed,
                                             int64_t batch, float random_scale = 0) {
  onebyone::Checkpoint c;
  *c.mutable_net() = net;
  Graph g(at_batch(net, batch), GraphOptions::seeded(seed));
  if (random_scale > 0) randomize_params(g, seed, random_scale);
  const NetRoles roles = find_roles(g);
  std::vector<int64_t> order(digits.count);
  for (int64_t i = 0; i < digits.count; ++i) order[i] = i;
  for (int step = 0; step < 3; ++step) {
    fill_batch(digits, order, batch * step, {}, g.value(roles.images), g.value(roles.labels));
    g.forward(Context::training(seed, step));
  }
  store_params(g, &c);
  return c;
}

}  // namespace obo::test
