// simulation/copies_sim.h — sites' copies on N workers on virtual time (DESIGN.md §13, §14
// invariants 2 and 3).
//
// Every node runs the very same rules the agent runs (src/rules: load average, coordinator,
// autoscaler, placement, make-before-break) from its own view. The views are modelled: a node
// sees the others' copies and loads one round late (the load report), a crashed or cut-off
// member dead after a detection delay drawn from the range the membership simulator measures,
// and the state log's desired counts one round after they are written (last writer wins, the
// other side of a partition only once it heals). Demand per site follows a curve (steady,
// diurnal, spikes); a serving copy's runnable tasks are its share of the site's demand.
// Rollouts: at seeded times a site gets a new release (a push); some are broken (their copies
// exit before they serve). Each node replaces its own copies by the same rules as the agent
// (src/rules/rollout.h); a replacement that never serves stops its site's rollout, and new
// copies then start on the release before. A release reaches every node in the round it is
// written (the log's spread is modelled for desired counts only). Every draw comes from the
// seed: a failing seed replays exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/time.h"
#include "simulation/membership_sim.h"
#include "src/rules/autoscale.h"

namespace starling::sim {

struct CopiesSimOptions {
  size_t nodes = 50;
  size_t sites = 200;
  uint32_t slots_per_node = 24;  // copy slots (cores) per worker: room for one side of a partition
  Duration duration = Seconds(1800);
  uint64_t seed = 1;
  rules::AutoscaleOptions autoscale;
  // Faults, all in [faults_start, faults_end).
  int crashes = 3;  // a worker and its copies die at once (kill -9 of the agent and its copies)
  double restart_fraction = 0.5;
  Duration restart_delay = Seconds(60);
  int partitions = 1;  // two-way splits, one at a time
  double partition_fraction = 0.2;
  Duration partition_duration = Seconds(30);
  Duration faults_start = Seconds(300);
  Duration faults_end = Seconds(1200);
  // Rollouts, at seeded times in [warmup, duration - 120 s): that many pushes over all sites.
  int rollouts = 0;
  double broken_fraction = 0.1;  // of the pushed releases, the share whose copies never serve
  // The model of the views.
  Duration detect_min = Milliseconds(800);   // a dead or cut-off member is seen dead after
  Duration detect_max = Milliseconds(3000);  // a delay in this range, per observer
  Duration start_min = Milliseconds(300);    // a copy serves this long after its start
  Duration start_max = Milliseconds(1000);
  Duration warmup = Seconds(120);  // invariants are checked from here on
  // Bounds the invariants are held to.
  Duration outage_bound = Seconds(10);  // no serving copy, after a failure
  Duration excess_bound = Seconds(20);  // copies above max, after a partition heals
  Duration rollout_bound =
      Seconds(120);  // a push to every copy on it (not stopped, not superseded)
  // warmup <= faults_start <= faults_end <= duration - 60 s (time to recover before the end), and
  // each partition fits its share of the fault window.
  Status Validate() const;
};

struct CopiesReport {
  uint64_t seed = 0;
  size_t nodes = 0, sites = 0;
  double simulated_seconds = 0;
  double wall_seconds = 0;
  uint64_t copies_started = 0, copies_stopped = 0, copies_lost = 0;
  uint64_t scale_ups = 0, scale_downs = 0;
  Distribution outage;       // a site with no serving copy, start to end (after a failure)
  Distribution replacement;  // a crash → each site it hit back to its serving count
  Distribution excess;       // copies above max: measured from the later of its start and a heal
  double steady_site_hours = 0;
  uint64_t steady_flaps = 0;       // direction changes of a steady site's desired count
  std::vector<std::string> flaps;  // each: site, step, time, faults shortly before
  double peak_copies_per_slot = 0;
  uint64_t rollouts = 0, rollouts_done = 0, rollouts_stopped = 0;
  uint64_t replaced = 0;  // copies replaced by a rollout (started beside an older one)
  Distribution rollout;   // a push → every copy of its site on it and serving (done ones)
  std::vector<std::string> violations;
  std::string Format() const;
};

CopiesReport RunCopiesSim(const CopiesSimOptions& options);

}  // namespace starling::sim
