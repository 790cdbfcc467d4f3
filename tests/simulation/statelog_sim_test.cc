// [sim] tests of the state log: many seeds through the simulator. A failure prints the seed;
// rerun it with `starling-sim --log --seed N --seeds 1` and the same flags to replay it exactly.
#include "simulation/statelog_sim.h"

#include <catch2/catch.hpp>

namespace starling::sim {
namespace {

StateLogSimOptions Chaos() {
  StateLogSimOptions options;
  options.nodes = 5;
  options.duration = Seconds(120);
  options.loss = 0.05;
  options.crashes = 3;  // power cuts: unsynced writes are lost
  options.restart_delay = Seconds(8);
  options.partitions = 2;
  options.partition_duration = Seconds(15);
  options.clock_skew = Seconds(2);
  options.interval_sync = true;  // half the nodes sync by time, so crashes lose real tails
  options.faults_start = Seconds(20);
  options.faults_end = Seconds(70);
  options.writes_end = Seconds(80);
  return options;
}

TEST_CASE(
    "invariants 1 and 4: one state, no acknowledged write lost, under loss, partitions, "
    "crashes and clock skew",
    "[sim]") {
  StateLogSimOptions options = Chaos();
  uint64_t acknowledged = 0, not_acknowledged = 0, snapshots = 0, compacted = 0;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    options.seed = seed;
    const StateLogReport report = RunStateLogSim(options);
    INFO(report.Format());
    REQUIRE(report.violations.empty());
    REQUIRE(report.converged_after_seconds >= 0);
    acknowledged += report.writes_acknowledged;
    not_acknowledged += report.writes_failed;
    snapshots += report.snapshots;
    compacted += report.compacted;
  }
  // The runs exercised what they claim to: most writes acknowledged, some not (a node alone on
  // its side of a split cannot find a second holder), compaction and snapshots both happened.
  CHECK(acknowledged > 100 * 1000);
  CHECK(not_acknowledged > 0);
  CHECK(compacted > 0);
  CHECK(snapshots > 0);
}

TEST_CASE("a 10-minute partition heals into one state within seconds", "[sim]") {
  StateLogSimOptions options;
  options.nodes = 5;
  options.duration = Seconds(650);
  options.loss = 0.01;
  options.partitions = 1;
  options.partition_duration = Seconds(600);
  options.faults_start = Seconds(10);
  options.faults_end = Seconds(10);
  options.writes_end = Seconds(610);  // writes on both sides until the heal
  options.clock_skew = Milliseconds(500);
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    options.seed = seed;
    const StateLogReport report = RunStateLogSim(options);
    INFO(report.Format());
    REQUIRE(report.violations.empty());
    CHECK(report.partition_heal_seconds >= 0);
    CHECK(report.partition_heal_seconds <= 5.0);  // membership notices in 2 s, then one exchange
  }
}

TEST_CASE("a state log seed replays exactly", "[sim]") {
  StateLogSimOptions options = Chaos();
  options.seed = 42;
  const StateLogReport a = RunStateLogSim(options);
  const StateLogReport b = RunStateLogSim(options);
  CHECK(a.Format() == b.Format());
  CHECK(a.requests == b.requests);
}

}  // namespace
}  // namespace starling::sim
