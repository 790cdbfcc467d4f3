// [sim] the rules for copies (DESIGN §14, invariants 2 and 3) over many seeds: 50 workers, 200
// sites with steady, diurnal and spiky demand, crashes (some restart) and a partition, and 400
// pushes of new releases (a tenth of them broken) rolled out all along. A failure prints the
// seed; rerun it with `starling-sim --copies --nodes 50 --seconds 900 --crashes 3
// --restart-fraction 0.5 --restart-delay-s 60 --partitions 1 --faults-start-s 250
// --faults-end-s 750 --rollouts 400 --seed N --seeds 1` to replay it exactly.
#include "simulation/copies_sim.h"

#include <catch2/catch.hpp>
#include <cstdio>

namespace starling::sim {
namespace {

TEST_CASE(
    "invariants 2 and 3: a serving copy, no excess, no flapping, under crashes, a partition "
    "and rollouts",
    "[sim][copies]") {
  CopiesSimOptions options;
  options.nodes = 50;
  options.sites = 200;
  options.duration = Seconds(900);
  options.crashes = 3;
  options.restart_fraction = 0.5;
  options.restart_delay = Seconds(60);
  options.partitions = 1;
  options.partition_duration = Seconds(30);
  options.faults_start = Seconds(250);
  options.faults_end = Seconds(750);
  options.rollouts = 400;
  options.broken_fraction = 0.1;
  REQUIRE(options.Validate().ok());
  Distribution outage, replacement, excess, rollout;
  uint64_t flaps = 0, started = 0, lost = 0, ups = 0, downs = 0;
  uint64_t rollouts = 0, rolled = 0, stopped = 0, replaced = 0;
  double steady_hours = 0;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    options.seed = seed;
    const CopiesReport report = RunCopiesSim(options);
    INFO(report.Format());
    REQUIRE(report.violations.empty());
    REQUIRE(report.peak_copies_per_slot <= 1.0);
    outage.samples.insert(outage.samples.end(), report.outage.samples.begin(),
                          report.outage.samples.end());
    replacement.samples.insert(replacement.samples.end(), report.replacement.samples.begin(),
                               report.replacement.samples.end());
    excess.samples.insert(excess.samples.end(), report.excess.samples.begin(),
                          report.excess.samples.end());
    rollout.samples.insert(rollout.samples.end(), report.rollout.samples.begin(),
                           report.rollout.samples.end());
    rollouts += report.rollouts;
    rolled += report.rollouts_done;
    stopped += report.rollouts_stopped;
    replaced += report.replaced;
    flaps += report.steady_flaps;
    steady_hours += report.steady_site_hours;
    started += report.copies_started;
    lost += report.copies_lost;
    ups += report.scale_ups;
    downs += report.scale_downs;
  }
  // The scenario did what it is for: copies were lost and replaced, sites scaled both ways.
  CHECK(lost > 100);
  CHECK(replacement.samples.size() == lost);
  CHECK(ups > 1000);
  CHECK(downs > 500);
  CHECK(flaps == 0);
  // Most pushes rolled out; the broken ones (a tenth) stopped, and none other could.
  CHECK(rolled > rollouts * 8 / 10);
  CHECK(stopped > rollouts / 20);
  CHECK(stopped < rollouts * 15 / 100);
  CHECK(replaced > rolled);
  std::printf(
      "copies sim, 100 seeds x 50 nodes x 200 sites x 900 s:\n"
      "  copies started %llu, lost with crashed nodes %llu, scale steps up %llu / down %llu\n"
      "  no serving copy (after a crash)  %s\n"
      "  crash -> serving elsewhere       %s\n"
      "  above max (after a heal)         %s\n"
      "  steady sites: %llu flaps in %.0f site-hours\n"
      "  rollouts %llu: done %llu, stopped %llu; copies replaced %llu\n"
      "  push -> every copy on it         %s\n",
      static_cast<unsigned long long>(started), static_cast<unsigned long long>(lost),
      static_cast<unsigned long long>(ups), static_cast<unsigned long long>(downs),
      outage.Format().c_str(), replacement.Format().c_str(), excess.Format().c_str(),
      static_cast<unsigned long long>(flaps), steady_hours,
      static_cast<unsigned long long>(rollouts), static_cast<unsigned long long>(rolled),
      static_cast<unsigned long long>(stopped), static_cast<unsigned long long>(replaced),
      rollout.Format().c_str());
}

}  // namespace
}  // namespace starling::sim
