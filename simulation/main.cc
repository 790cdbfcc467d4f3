// starling-sim — runs the membership core for many nodes on virtual time and prints what it saw.
// A run is a pure function of its flags and seed: rerun a failing seed to replay it exactly.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "simulation/copies_sim.h"
#include "simulation/membership_sim.h"
#include "simulation/statelog_sim.h"

namespace {

// Runs seeds first .. first + count - 1 through `run` (seed -> report), prints each report and a
// replay line for each seed with violations. Returns the exit code: 0 when every seed held.
template <typename Run>
int RunSeeds(uint64_t first, uint64_t count, const char* flag, Run run) {
  int failed = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    const auto report = run(seed);
    std::fputs(report.Format().c_str(), stdout);
    if (!report.violations.empty()) {
      ++failed;
      std::printf("  replay: starling-sim%s --seed %llu --seeds 1 (same flags)\n", flag,
                  static_cast<unsigned long long>(seed));
    }
  }
  std::printf("%llu seeds, %d with violations\n", static_cast<unsigned long long>(count), failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace starling;
  CLI::App app{"starling-sim: deterministic failure-injection simulator for Starling membership"};
  sim::MembershipSimOptions options;
  std::string profile = "default";
  double seconds = 180, latency_ms = 0.5, jitter_ms = 0.5, connect_timeout_s = 2;
  double faults_start_s = 30, faults_end_s = 120, restart_delay_s = 20;
  double partition_s = 30, slow_ms = 300, slow_s = 30;
  uint64_t seeds = 1;
  app.add_option("--nodes,-n", options.nodes, "Number of nodes")->check(CLI::Range(2, 100000));
  app.add_option("--seconds", seconds, "Simulated seconds")->check(CLI::PositiveNumber);
  app.add_option("--seed", options.seed, "First seed");
  app.add_option("--seeds", seeds, "Number of consecutive seeds to run")
      ->check(CLI::Range(1, 100000));
  app.add_option("--profile", profile, "Timer profile: default, lan, local, wan");
  app.add_option("--latency-ms", latency_ms, "One-way base latency")->check(CLI::NonNegativeNumber);
  app.add_option("--jitter-ms", jitter_ms, "Mean exponential jitter")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--loss", options.network.loss, "Datagram loss probability")
      ->check(CLI::Range(0.0, 0.9));
  app.add_option("--duplicate", options.network.duplicate, "Datagram duplication probability")
      ->check(CLI::Range(0.0, 0.9));
  app.add_option("--connect-timeout-s", connect_timeout_s,
                 "TCP connect timeout to unreachable hosts");
  app.add_option("--crashes", options.faults.crashes, "Processes killed")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--restart-fraction", options.faults.restart_fraction,
                 "Share of crashes that restart")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--restart-delay-s", restart_delay_s, "Seconds before a crashed node restarts");
  app.add_flag("--silent-crashes", options.faults.silent_crashes,
               "Crashed hosts vanish (timeouts) instead of refusing connections");
  app.add_option("--partitions", options.faults.partitions, "Two-way network splits")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--partition-fraction", options.faults.partition_fraction,
                 "Share of nodes cut off")
      ->check(CLI::Range(0.01, 0.99));
  app.add_option("--partition-s", partition_s, "Seconds each partition lasts");
  app.add_option("--slow-nodes", options.faults.slow_nodes, "Nodes made slow for a while");
  app.add_option("--slow-ms", slow_ms, "Extra delay on a slow node's messages");
  app.add_option("--slow-s", slow_s, "Seconds a node stays slow");
  app.add_option("--faults-start-s", faults_start_s, "Faults begin after this many seconds");
  app.add_option("--faults-end-s", faults_end_s, "Faults end before this many seconds");
  app.add_flag("--warm-start", options.warm_start,
               "Start as a running cluster (every node knows every member) instead of joining");
  bool log_model = false, interval_sync = false;
  double skew_ms = 0, writes_end_s = -1, write_interval_ms = 50;
  app.add_flag("--log", log_model,
               "Simulate the replicated state log (store::Replica) instead of membership");
  app.add_option("--clock-skew-ms", skew_ms,
                 "--log: wall clocks off by up to this, jumping at "
                 "restarts");
  app.add_flag("--interval-sync", interval_sync,
               "--log: odd nodes sync every 50 ms, not per batch");
  app.add_option("--writes-end-s", writes_end_s,
                 "--log: the workload stops here (default: "
                 "faults end + 10 s)");
  app.add_option("--write-interval-ms", write_interval_ms, "--log: one write this often");
  bool copies_model = false;
  size_t sites = 200;
  app.add_flag("--copies", copies_model,
               "Simulate sites' copies (the rules: autoscale, placement, replacement) instead of "
               "membership; uses --nodes, --seconds, --crashes, --restart-fraction, "
               "--restart-delay-s, --partitions, --partition-fraction, --partition-s, "
               "--faults-start-s, --faults-end-s");
  app.add_option("--sites", sites, "--copies: number of sites")->check(CLI::Range(1, 100000));
  int rollouts = 0;
  double broken_fraction = 0.1;
  app.add_option("--rollouts", rollouts, "--copies: pushes of new releases over the run")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--broken-fraction", broken_fraction,
                 "--copies: share of pushed releases whose copies never serve (default 0.1)")
      ->check(CLI::Range(0.0, 1.0));
  CLI11_PARSE(app, argc, argv);

  auto swim = gossip::SwimOptions::ForProfile(profile);
  if (!swim.ok()) {
    std::fprintf(stderr, "starling-sim: %s\n", swim.status().ToString().c_str());
    return 2;
  }
  if (faults_end_s < faults_start_s || faults_end_s > seconds) {
    std::fprintf(stderr, "starling-sim: need faults-start <= faults-end <= seconds\n");
    return 2;
  }
  auto ms = [](double v) {
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(v));
  };
  auto s = [&](double v) { return ms(v * 1000); };
  options.swim = *swim;
  options.duration = s(seconds);
  options.network.latency = ms(latency_ms);
  options.network.jitter = ms(jitter_ms);
  options.network.connect_timeout = s(connect_timeout_s);
  options.faults.restart_delay = s(restart_delay_s);
  options.faults.partition_duration = s(partition_s);
  options.faults.slow_delay = ms(slow_ms);
  options.faults.slow_duration = s(slow_s);
  options.faults.faults_start = s(faults_start_s);
  options.faults.faults_end = s(faults_end_s);

  const uint64_t first = options.seed;
  if (copies_model) {
    sim::CopiesSimOptions copies;
    copies.nodes = options.nodes;
    copies.sites = sites;
    copies.duration = s(seconds);
    copies.crashes = options.faults.crashes;
    copies.restart_fraction = options.faults.restart_fraction;
    copies.restart_delay = s(restart_delay_s);
    copies.partitions = options.faults.partitions;
    copies.partition_fraction = options.faults.partition_fraction;
    copies.partition_duration = s(partition_s);
    copies.faults_start = s(faults_start_s);
    copies.faults_end = s(faults_end_s);
    copies.rollouts = rollouts;
    copies.broken_fraction = broken_fraction;
    if (Status valid = copies.Validate(); !valid.ok()) {
      std::fprintf(stderr, "starling-sim: %s\n", valid.message().c_str());
      return 2;
    }
    return RunSeeds(first, seeds, " --copies", [&](uint64_t seed) {
      copies.seed = seed;
      return sim::RunCopiesSim(copies);
    });
  }
  if (log_model) {
    sim::StateLogSimOptions log;
    log.nodes = options.nodes;
    log.duration = s(seconds);
    log.loss = options.network.loss;
    log.latency = ms(std::max(latency_ms, 0.001));
    log.crashes = options.faults.crashes;
    log.restart_delay = s(restart_delay_s);
    log.partitions = options.faults.partitions;
    log.partition_duration = s(partition_s);
    log.faults_start = s(faults_start_s);
    log.faults_end = s(faults_end_s);
    log.clock_skew = ms(skew_ms);
    log.interval_sync = interval_sync;
    log.write_interval = ms(write_interval_ms);
    log.writes_end = s(writes_end_s >= 0 ? writes_end_s : faults_end_s + 10);
    return RunSeeds(first, seeds, " --log", [&](uint64_t seed) {
      log.seed = seed;
      return sim::RunStateLogSim(log);
    });
  }
  return RunSeeds(first, seeds, "", [&](uint64_t seed) {
    options.seed = seed;
    return sim::RunMembershipSim(options);
  });
}
