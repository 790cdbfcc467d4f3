// src/agent/member_views.h — what each service needs of the membership view, read off the core's
// member table: the copy rules' members, the balancer's workers and peers, the balancers a
// draining copy waits for. Pure functions of the view (the io thread calls them).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "gossip/swim.h"
#include "src/balancer/nginx.h"
#include "src/rules/db_cluster.h"
#include "src/rules/files_volume.h"
#include "src/rules/round_view.h"

namespace starling::agent {

// Live members as the copy rules see them: role, slots, and the copies their reports carry.
std::vector<rules::MemberReport> CopyMembers(const gossip::Swim& core);

// Workers (members that are not balancers only) alive with their load report heard, and known
// (not left: alive, suspect, or dead and not yet forgotten); this node counts when it is one.
// The copy rules' standing inputs: workers alive with their report heard, known, and alive
// without a report yet.
struct WorkerCounts {
  size_t live = 0, known = 0, reports_missing = 0;
};
WorkerCounts CountWorkers(const gossip::Swim& core);

// A digest of the live members' copies as their reports show them (site, serving, draining,
// release; not loads): it changes when a copy anywhere starts, serves, drains or goes.
uint64_t CopyStatesDigest(const gossip::Swim& core);

// The IP addresses every known member (this node included) is reached at: its gossip address
// and its API's host. What copies must not reach (src/copies/firewall.h).
std::vector<std::string> MemberHosts(const gossip::Swim& core);

// The db nodes (members whose metadata says so) as the database rules see them: alive or not,
// and what their load reports say of their databases.
std::vector<rules::DbNodeView> DbNodes(const gossip::Swim& core);

// The storage nodes (members whose metadata says so) as the files volume rules see them: alive
// or not, and what their load reports say of their glusterd and bricks (not their bricks' paths:
// those are in the state log).
std::vector<rules::StorageNodeView> StorageNodes(const gossip::Swim& core);

// Live members that run copies (copy slots offered), this node included when it does.
std::vector<std::string> RunningCopies(const gossip::Swim& core);

// The balancer's view: each live or suspect worker's advertised host and its reported copies.
std::vector<balancer::WorkerCopies> BalancedWorkers(const gossip::Swim& core);

// The other balancers' hosts, for VRRP unicast: every one known that has not left (a dead one
// stays: it may come back, and the shared address must not flap on a reload).
std::vector<std::string> BalancerPeers(const gossip::Swim& core, const std::string& self);

// Live balancers (name, address), by name; `except` left out. A draining copy waits for every
// one (its own node's included); urgent load reports go to the others.
std::vector<std::pair<std::string, gossip::Address>> LiveBalancers(const gossip::Swim& core,
                                                                   const std::string& except = "");

}  // namespace starling::agent
