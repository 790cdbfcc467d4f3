// simulation/membership_sim.h — N membership cores on virtual time (DESIGN.md §13).
//
// The very same gossip::Swim class the agent runs, driven by a seeded network model (latency,
// jitter, loss, duplication, reordering, partitions) and faults (crash, restart, slow node). Every
// random draw comes from the seed, so a run replays exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/time.h"
#include "gossip/options.h"

namespace starling::sim {

struct NetworkOptions {
  Duration latency = std::chrono::microseconds(500);  // one-way base latency
  Duration jitter = std::chrono::microseconds(500);   // mean of the exponential extra delay
  double loss = 0;                                    // per datagram, each way
  double duplicate = 0;                               // per datagram
  Duration connect_timeout = Seconds(2);              // a TCP attempt to an unreachable host
};

struct FaultPlan {
  int crashes = 0;              // processes killed (their hosts answer with refusals)
  double restart_fraction = 0;  // share of crashed nodes that come back
  Duration restart_delay = Seconds(20);
  bool silent_crashes = false;      // hosts vanish instead: no refusals, only timeouts
  int partitions = 0;               // two-way splits, one at a time
  double partition_fraction = 0.3;  // share of nodes cut off
  Duration partition_duration = Seconds(30);
  int slow_nodes = 0;  // nodes whose every message is delayed
  Duration slow_delay = Milliseconds(300);
  Duration slow_duration = Seconds(30);
  Duration faults_start = Seconds(30);  // faults happen in [faults_start, faults_end)
  Duration faults_end = Seconds(120);
};

struct MembershipSimOptions {
  size_t nodes = 20;
  Duration duration = Seconds(180);
  uint64_t seed = 1;
  gossip::SwimOptions swim;
  NetworkOptions network;
  FaultPlan faults;
  Duration join_window = Seconds(2);  // nodes start spread over this window
  // Nodes start knowing every member (one state exchange with an oracle) instead of joining
  // through the first node: a running cluster, for long fault runs at large N.
  bool warm_start = false;
  Duration event_interval = Seconds(10);  // a user event from a random node this often
  Duration check_interval = Milliseconds(250);
};

// Percentiles of a set of samples, in seconds.
struct Distribution {
  std::vector<double> samples;
  double Percentile(double p) const;
  double Max() const;
  std::string Format() const;  // "p50 … p99 … max … (n=…)"
};

struct MembershipReport {
  uint64_t seed = 0;
  size_t nodes = 0;
  double simulated_seconds = 0;
  double join_convergence_seconds = -1;  // every node sees every node alive
  Distribution detection_first;          // crash → first node declares it dead
  Distribution detection_all;            // crash → every live node holds it dead
  int undetected_crashes = 0;            // restarted before everyone noticed
  uint64_t false_suspicions = 0;         // a reachable, live member suspected
  uint64_t false_deaths = 0;             // a reachable, live member declared dead
  // Deaths of live members whose suspicion began before a partition healed: SWIM cannot tell
  // those from real ones; they are refuted once the member hears of them (not violations).
  uint64_t deaths_after_partition = 0;
  Distribution dissemination;  // user event → held by every reachable live node
  int undelivered_events = 0;
  double bytes_per_node_per_second = 0;
  double convergence_after_faults_seconds = -1;  // last fault → one consistent view
  double convergence_bound_seconds = 0;
  uint64_t events_processed = 0;
  double wall_seconds = 0;
  std::vector<std::string> violations;  // invariant failures; empty when all held

  std::string Format() const;
};

// Runs one seeded simulation to completion.
MembershipReport RunMembershipSim(const MembershipSimOptions& options);

}  // namespace starling::sim
