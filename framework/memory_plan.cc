#include "framework/memory_plan.h"

#include <algorithm>
#include <map>
#include <numeric>

namespace obo {

bool alive_together(const Lifetime& a, const Lifetime& b) {
  for (const auto& [first, last] : a.spans)
    for (const auto& [other_first, other_last] : b.spans)
      if (first <= other_last && other_first <= last) return true;
  return false;
}

size_t largest_live_set(const std::vector<Lifetime>& tensors) {
  std::map<size_t, long long> change;  // step -> floats that start (+) or end (-) being alive there
  for (const Lifetime& t : tensors)
    for (const auto& [first, last] : t.spans) {
      change[first] += static_cast<long long>(t.size);
      change[last + 1] -= static_cast<long long>(t.size);
    }
  long long live = 0, largest = 0;
  for (const auto& [step, delta] : change) largest = std::max(largest, live += delta);
  return static_cast<size_t>(largest);
}

MemoryPlan plan_memory(const std::vector<Lifetime>& tensors) {
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tensors[a].size > tensors[b].size; });
  MemoryPlan plan;
  plan.offsets.assign(tensors.size(), 0);
  const auto end_of = [&](size_t t) { return plan.offsets[t] + tensors[t].size; };
  for (size_t u = 0; u < order.size(); ++u) {
    const size_t t = order[u];
    std::vector<size_t> beside;  // placed, and alive with this one: by offset
    for (size_t o = 0; o < u; ++o)
      if (alive_together(tensors[order[o]], tensors[t])) beside.push_back(order[o]);
    std::sort(beside.begin(), beside.end(), [&](size_t a, size_t b) { return plan.offsets[a] < plan.offsets[b]; });
    size_t offset = 0;
    for (size_t o : beside) {
      if (offset + tensors[t].size <= plan.offsets[o]) break;  // fits in the gap before it
      offset = std::max(offset, (end_of(o) + MemoryPlan::kAlign - 1) / MemoryPlan::kAlign * MemoryPlan::kAlign);
    }
    plan.offsets[t] = offset;
    plan.arena = std::max(plan.arena, end_of(t));
  }
  return plan;
}

}  // namespace obo
