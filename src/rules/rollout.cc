#include "src/rules/rollout.h"

#include <algorithm>
#include <map>

namespace starling::rules {
namespace {

struct NodeCopies {
  bool old_serving = false, old_other = false;  // an outdated copy: serving, or starting
  bool fresh_serving = false, fresh_starting = false;
};

bool Live(CopyState state) { return state == CopyState::kStarting || state == CopyState::kServing; }

}  // namespace

RolloutStep PlanRollout(const SiteView& site, const std::vector<WorkerView>& workers) {
  RolloutStep step;
  if (site.release == 0) return step;
  auto worker_of = [&](const std::string& node) -> const WorkerView* {
    for (const WorkerView& worker : workers) {
      if (worker.name == node) return &worker;
    }
    return nullptr;
  };
  std::map<std::string, NodeCopies> nodes;  // in name order
  for (const CopyView& copy : site.copies) {
    if (!Live(copy.state) || worker_of(copy.node) == nullptr) continue;
    NodeCopies& node = nodes[copy.node];
    const bool serving = copy.state == CopyState::kServing;
    if (copy.release == site.release) {
      ++step.current;
      (serving ? node.fresh_serving : node.fresh_starting) = true;
    } else {
      ++step.outdated;
      (serving ? node.old_serving : node.old_other) = true;
    }
  }
  size_t in_flight = 0;
  std::vector<std::string> candidates;
  for (const auto& [name, node] : nodes) {
    const bool old = node.old_serving || node.old_other;
    if (old && node.fresh_serving) {
      step.retire.push_back(name);
    } else if (old && node.fresh_starting) {
      ++in_flight;
    } else if (node.old_serving && !node.fresh_starting && worker_of(name)->eligible) {
      candidates.push_back(name);
    }
  }
  if (site.rollout_stopped) return step;
  const size_t surge = std::max<uint32_t>(site.surge, 1);
  for (size_t i = 0; i < candidates.size() && in_flight < surge; ++i, ++in_flight) {
    step.replace.push_back(candidates[i]);
  }
  return step;
}

}  // namespace starling::rules
