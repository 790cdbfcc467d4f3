// simulation/statelog_sim.h — N state log replicas (store::Replica, the agent's very code) on
// virtual time, with a seeded network (latency, loss, partitions), power-cut crashes that lose
// unsynced writes, restarts, skewed and jumping clocks, and a write workload. Membership is an
// oracle here (who is up and reachable, after a detection delay); the membership simulator covers
// SWIM itself. Every random draw comes from the seed: a run replays exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/time.h"

namespace starling::sim {

struct StateLogSimOptions {
  size_t nodes = 5;
  Duration duration = Seconds(120);
  uint64_t seed = 1;
  Duration latency = Milliseconds(1);          // one way
  double loss = 0;                             // per message (requests, replies, broadcasts)
  Duration request_timeout = Seconds(2);       // an exchange that got no reply fails after this
  Duration detection_delay = Seconds(2);       // membership's time to notice a crash or a split
  Duration write_interval = Milliseconds(50);  // a write at a random live node this often
  size_t keys = 200;                           // keys written (so writes supersede each other)
  int crashes = 0;                             // power cuts: unsynced writes are lost
  Duration restart_delay = Seconds(10);
  int partitions = 0;  // two-way splits, one at a time
  Duration partition_duration = Seconds(20);
  Duration clock_skew = Milliseconds(0);  // each node's wall clock is off by up to this
  Duration faults_start = Seconds(20);
  Duration faults_end = Seconds(80);
  Duration writes_end = Seconds(90);    // the workload stops here; then the log must settle
  bool interval_sync = false;           // odd nodes sync every 50 ms instead of per batch
  Duration settle_bound = Seconds(20);  // invariant 1: one state this soon after the last fault
};

struct StateLogReport {
  uint64_t seed = 0;
  uint64_t writes_acknowledged = 0;
  uint64_t writes_failed = 0;  // timed out or lost with their node: never acknowledged
  uint64_t requests = 0;
  double converged_after_seconds = -1;  // after the last fault and the last write
  double partition_heal_seconds = -1;   // last partition healed -> one state
  uint64_t compacted = 0;
  uint64_t snapshots = 0;
  std::vector<std::string> violations;
  std::string Format() const;
};

StateLogReport RunStateLogSim(const StateLogSimOptions& options);

}  // namespace starling::sim
