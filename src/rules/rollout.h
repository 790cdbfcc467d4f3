// src/rules/rollout.h — a site's rollout to its release in force (DESIGN.md §8, deploys). Each
// node's copy is replaced where it is, make before break: the node starts a copy of the new
// release beside its outdated one, and stops the outdated one once the new one serves (the
// balancers take it out first). At most `surge` nodes replace at once, in name order, so a
// site never has fewer serving copies than before and a broken release is found on one copy.
// A stopped rollout (the release's copies failed to serve) replaces nothing further; its new
// copies that serve stay. Copies are placed as before (src/rules/placement.h): a rollout moves
// none, and a replacement briefly uses one slot more on its node.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "src/rules/copy_planner.h"

namespace starling::rules {

struct RolloutStep {
  std::vector<std::string> replace;  // nodes that start a copy of the release, sorted
  std::vector<std::string> retire;   // nodes that stop their outdated copy, sorted
  size_t current = 0;                // copies on the release in force (not stopping or failed)
  size_t outdated = 0;               // copies on others
};

// The step every node computes for `site` from the same view. Copies on nodes not in `workers`
// (dead) are ignored; outdated copies on ineligible (draining) workers are not replaced, since
// placement moves them.
RolloutStep PlanRollout(const SiteView& site, const std::vector<WorkerView>& workers);

// Whether a copy of the release in force that failed before it served stops the rollout: a
// replacement's failure does, and so does any copy's while no copy of that release serves
// anywhere (else a broken release whose old copies were lost would restart itself for ever);
// a copy of a release that serves elsewhere failed for a reason of its own.
inline bool StopsRollout(bool replacing, bool release_serves_elsewhere) {
  return replacing || !release_serves_elsewhere;
}

}  // namespace starling::rules
