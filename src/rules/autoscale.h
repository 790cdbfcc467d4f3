// src/rules/autoscale.h — how many copies a site wants (DESIGN.md §8), decided by its
// coordinator alone from the loads of its serving copies.
//
// One more copy when the mean load per serving copy stays at or above `up` (default 2.0) for
// `up_window`; one fewer when every copy stays under `down` (1.0) for `down_window` and the whole
// load spread over the copies left after the step (desired - 1) would stay under the midpoint of
// the two thresholds (so that the step down cannot itself cause a step up: no flapping at steady
// demand, nor after a partition left extra copies sharing the load for a while). Asymmetric
// cooldowns after any step, at most one step per round, never outside [min, max], and no step up
// while earlier steps are still starting (fewer serving copies than wanted), and no step down while
// copies are missing (a crashed copy's share is not in the loads yet).
//
// Pure: the caller gives the time and the view; the state is only the windows and the last step,
// so a new coordinator starts with fresh windows (it acts later, never wrongly).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/time.h"

namespace starling::rules {

struct AutoscaleOptions {
  Duration up_window = Seconds(10);       // mean load >= up this long before a step up
  Duration down_window = Seconds(60);     // every copy < down this long before a step down
  Duration up_cooldown = Seconds(20);     // after any step, before a step up
  Duration down_cooldown = Seconds(120);  // after any step, before a step down
  Status Validate() const;
};

// What the coordinator sees of one site in one round.
struct SiteLoad {
  uint32_t min = 1;
  uint32_t max = 8;
  double up = 2.0;
  double down = 1.0;
  uint32_t desired = 1;       // the count in the state log now
  std::vector<double> loads;  // load average of each serving copy
};

struct ScaleDecision {
  uint32_t desired = 0;
  bool changed = false;
  std::string reason;  // why it changed (empty when it did not)
};

// Feed it every round while this node coordinates the site; drop it when the node stops being
// the coordinator (its windows would otherwise hold observations with a gap in them).
class Autoscaler {
 public:
  explicit Autoscaler(const AutoscaleOptions& options = {}) : options_(options) {}

  // One round (about a second apart). Returns the count the site should want.
  ScaleDecision Round(Instant now, const SiteLoad& site);

 private:
  AutoscaleOptions options_;
  Instant above_since_ = kInstantMax;  // mean load >= up since
  Instant below_since_ = kInstantMax;  // every copy < down (and the step is safe) since
  Instant last_step_ = Instant::min();
};

}  // namespace starling::rules
