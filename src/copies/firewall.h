// src/copies/firewall.h — keeps copies off the host and the cluster (docs/SECURITY.md).
//
// Copies share the host's network (no veth, no NAT: the serving path costs what it costs on the
// host). What a copy may reach is cut instead by an nftables table in the node's network
// namespace, matching every socket made in the copies' parent cgroup (runc puts each copy at
// /starling/<id>; the rule asks for the cgroup v2 ancestor "starling"): a connection or datagram
// from a copy to any of the node's own addresses (the agent's API and gossip ports, nginx's
// control listener, a database's admin port, anything on loopback, the node's broadcast and
// multicast addresses) or to any cluster member's address is refused (an ICMP answer: the copy's
// code sees "connection refused" at once, not a timeout).
// Answers on connections made to a copy (a balancer's request) pass, and so does DNS to a local
// resolver. Stateless: a TCP segment other than a bare SYN passes (no connection tracking, whose
// cost would fall on every packet of the node). The rest of the world stays reachable (a site may
// call out: payment APIs, mail).
//
// The table is replaced in one nft transaction, never left half-written. nft names a cgroup by
// its path under /sys/fs/cgroup; on a hybrid host (v1 controllers, v2 at
// /sys/fs/cgroup/unified) nft runs in a private mount namespace with the v2 mount bound there.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace starling::copies {

struct FirewallSpec {
  std::string table;                  // nft table name (inet family), e.g. "starling_node_1"
  std::string cgroup = "starling";    // the copies' parent cgroup, a child of the v2 root
  std::vector<std::string> members;   // cluster members' addresses (IPv4 or IPv6 literals)
  std::vector<uint16_t> local_ports;  // ports of the node a copy may still reach (53: DNS)
};

// The nft script that replaces `spec.table` with the rules above. Addresses that are not IP
// literals (a host name, "0.0.0.0") are left out. REQUIRES: spec.table and spec.cgroup are made
// of [A-Za-z0-9_-].
std::string FirewallRuleset(const FirewallSpec& spec);
// The nft script that removes `table` (and nothing if it is not there).
std::string FirewallRemoval(const std::string& table);
// A table name for node `node_name` (any characters outside [A-Za-z0-9_] become '_').
std::string FirewallTableFor(const std::string& node_name);

class Firewall {
 public:
  // Finds nft and the cgroup v2 mount, and makes the copies' parent cgroup there (so the rule
  // can name it before the first copy). Unavailable, saying what is missing, when either is.
  // `scratch_dir` holds the script nft reads.
  static Result<std::unique_ptr<Firewall>> Make(std::string scratch_dir);

  // Loads `spec` (blocking: runs nft, ~10 ms). The error carries what nft said.
  Status Apply(const FirewallSpec& spec);
  // Whether the rules last applied still hold: the table is there with its rules (not flushed)
  // and the copies' cgroup is the one it names (a cgroup removed and made again has a new id the
  // rule does not match).
  bool Holds(const FirewallSpec& spec) const;
  // Removes `table`. Blocking.
  Status Remove(const std::string& table);

 private:
  Firewall(std::string nft, std::string cgroup_root, std::string scratch_dir)
      : nft_(std::move(nft)),
        cgroup_root_(std::move(cgroup_root)),
        scratch_(std::move(scratch_dir)) {}
  Status Run(const std::string& script) const;  // nft -f
  uint64_t CgroupId(const std::string& cgroup) const;

  std::string nft_;          // the binary
  std::string cgroup_root_;  // where cgroup v2 is mounted
  std::string scratch_;
  uint64_t applied_cgroup_id_ = 0;
};

}  // namespace starling::copies
