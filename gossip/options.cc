#include "gossip/options.h"

#include <string>

namespace starling::gossip {

Result<SwimOptions> SwimOptions::ForProfile(std::string_view name) {
  SwimOptions o;
  if (name == "default") return o;
  if (name == "lan") {  // memberlist DefaultLANConfig (Serf's default)
    o.probe_interval = Seconds(1);
    o.probe_timeout = Milliseconds(500);
    o.gossip_interval = Milliseconds(200);
    o.gossip_nodes = 3;
    o.indirect_checks = 3;
    o.retransmit_mult = 4;
    o.suspicion_mult = 4;
    o.push_pull_interval = Seconds(30);
    o.gossip_to_the_dead = Seconds(30);
    o.closed_port_suspicion_timeout = Seconds(1);
    return o;
  }
  if (name == "local") {  // memberlist DefaultLocalConfig
    o.probe_interval = Seconds(1);
    o.probe_timeout = Milliseconds(200);
    o.gossip_interval = Milliseconds(100);
    o.gossip_nodes = 3;
    o.indirect_checks = 1;
    o.retransmit_mult = 2;
    o.suspicion_mult = 3;
    o.push_pull_interval = Seconds(15);
    o.gossip_to_the_dead = Seconds(15);
    o.closed_port_suspicion_timeout = Seconds(1);
    return o;
  }
  if (name == "wan") {  // memberlist DefaultWANConfig
    o.probe_interval = Seconds(5);
    o.probe_timeout = Seconds(3);
    o.gossip_interval = Milliseconds(500);
    o.gossip_nodes = 4;
    o.indirect_checks = 3;
    o.retransmit_mult = 4;
    o.suspicion_mult = 6;
    o.push_pull_interval = Seconds(60);
    o.gossip_to_the_dead = Seconds(60);
    o.closed_port_suspicion_timeout = Seconds(5);
    return o;
  }
  return Status::InvalidArgument("unknown timer profile '" + std::string(name) +
                                 "' (expected default, lan, local or wan)");
}

Status SwimOptions::Validate() const {
  auto positive = [](Duration d) { return d > Duration::zero(); };
  if (!positive(probe_interval)) return Status::InvalidArgument("probe_interval must be > 0");
  if (!positive(probe_timeout) || probe_timeout >= probe_interval) {
    return Status::InvalidArgument("probe_timeout must be > 0 and < probe_interval");
  }
  if (!positive(gossip_interval)) return Status::InvalidArgument("gossip_interval must be > 0");
  if (gossip_nodes < 1 || gossip_nodes > 32) return Status::InvalidArgument("gossip_nodes: 1..32");
  if (indirect_checks < 0 || indirect_checks > 16) {
    return Status::InvalidArgument("indirect_checks: 0..16");
  }
  if (retransmit_mult < 1 || retransmit_mult > 32) {
    return Status::InvalidArgument("retransmit_mult: 1..32");
  }
  if (suspicion_mult < 1 || suspicion_mult > 32) {
    return Status::InvalidArgument("suspicion_mult: 1..32");
  }
  if (suspicion_max_timeout_mult < 1 || suspicion_max_timeout_mult > 64) {
    return Status::InvalidArgument("suspicion_max_timeout_mult: 1..64");
  }
  if (!positive(push_pull_interval) || !positive(reconnect_interval) ||
      !positive(gossip_to_the_dead) || !positive(dead_retention) || !positive(leave_timeout) ||
      !positive(closed_port_suspicion_timeout)) {
    return Status::InvalidArgument("intervals and timeouts must be > 0");
  }
  if (awareness_max_multiplier < 1 || awareness_max_multiplier > 64) {
    return Status::InvalidArgument("awareness_max_multiplier: 1..64");
  }
  if (datagram_budget_bytes < 512 || datagram_budget_bytes > 65000) {
    return Status::InvalidArgument("datagram budget: 512..65000 bytes");
  }
  if (max_broadcasts < 16 || max_members < 2 || max_forwarded_probes < 1) {
    return Status::InvalidArgument("queue bounds too small");
  }
  return Status::Ok();
}

}  // namespace starling::gossip
