// gossip/options.h — every membership tunable with its default, and the named timer profiles.
#pragma once

#include <string_view>

#include "base/status.h"
#include "base/time.h"

namespace starling::gossip {

struct SwimOptions {
  // Time between probes of one member each (scaled by local health). SWIM's protocol period.
  Duration probe_interval = Milliseconds(500);
  // How long a direct ping waits for its ack before indirect probes start.
  Duration probe_timeout = Milliseconds(200);
  // Time between gossip rounds; a round is skipped when nothing is queued.
  Duration gossip_interval = Milliseconds(100);
  // Members each gossip round sends to.
  int gossip_nodes = 4;
  // Members asked to probe indirectly after a direct probe times out.
  int indirect_checks = 3;
  // A broadcast is sent retransmit_mult * ceil(log10(N + 1)) times.
  int retransmit_mult = 4;
  // Minimum suspicion timeout = suspicion_mult * max(1, log10(N)) * probe_interval.
  int suspicion_mult = 4;
  // Maximum suspicion timeout = suspicion_max_timeout_mult * minimum (Lifeguard).
  int suspicion_max_timeout_mult = 6;
  // Full state exchange with one random member; scaled up beyond 32 members.
  Duration push_pull_interval = Seconds(30);
  // Push-pull with one random dead member, so the two sides of a healed partition find each other.
  Duration reconnect_interval = Seconds(5);
  // Dead members still receive gossip this long, so they learn of it and can refute.
  Duration gossip_to_the_dead = Seconds(30);
  // Dead and left members are forgotten after this long.
  Duration dead_retention = Seconds(24 * 3600);
  // Lifeguard local health: timers stretch up to this many times.
  int awareness_max_multiplier = 8;
  // Treat a refused connection to a member's port (nothing listening: the process is gone) as
  // evidence: suspect it at once with a short timeout instead of waiting for the probe round.
  bool closed_port_evidence = true;
  Duration closed_port_suspicion_timeout = Milliseconds(500);
  // Plaintext bytes one datagram may carry: a 1400-byte datagram less the 49 bytes of sealing
  // (src/net/sealer.h: format, nonce, timestamp, tag).
  size_t datagram_budget_bytes = 1400 - 49;
  // Bounds on queues and tables.
  size_t max_broadcasts = 4096;
  size_t max_members = 100000;
  size_t max_forwarded_probes = 1024;
  // How long a graceful leave waits for its broadcast to go out.
  Duration leave_timeout = Seconds(2);

  // The named profiles: "default" (Starling's), and memberlist's "lan", "local" and "wan".
  static Result<SwimOptions> ForProfile(std::string_view name);
  // Checks every field once, at start-up.
  Status Validate() const;
};

}  // namespace starling::gossip
