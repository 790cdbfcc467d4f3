#include "src/rules/db_cluster.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "src/rules/placement.h"

namespace starling::rules {
namespace {

constexpr std::string_view kWriterKey = "db-writer";

bool HasHistory(const DbNodeView& node) {
  return node.seqno >= 0 && !node.uuid.empty() &&
         node.uuid != "00000000-0000-0000-0000-000000000000";
}

}  // namespace

std::string_view DbStateName(DbState state) {
  switch (state) {
    case DbState::kUnknown:
      return "unknown";
    case DbState::kStopped:
      return "stopped";
    case DbState::kNonPrimary:
      return "non-primary";
    case DbState::kJoining:
      return "joining";
    case DbState::kDonor:
      return "donor";
    case DbState::kSynced:
      return "synced";
  }
  return "unknown";
}

DbDecision DecideDbStart(const std::string& self, const std::vector<std::string>& registered,
                         const std::vector<DbNodeView>& nodes) {
  DbDecision decision;
  // A Primary component exists: join its members.
  for (const auto& node : nodes) {
    if (node.name != self && node.alive && InPrimary(node.state) && !node.address.empty()) {
      decision.peers.push_back(node.address);
    }
  }
  if (!decision.peers.empty()) {
    std::sort(decision.peers.begin(), decision.peers.end());
    decision.action = DbAction::kJoin;
    decision.why = "joining the Primary component";
    return decision;
  }

  // None: every db node must be accounted for, outside any Primary component.
  std::map<std::string, const DbNodeView*> seen;
  for (const auto& node : nodes) seen[node.name] = &node;
  std::set<std::string> required(registered.begin(), registered.end());
  // Every db node gossip shows alive counts too, reporting or not: two new nodes that start
  // together see each other before either's registration has spread.
  for (const auto& node : nodes) {
    if (node.alive) required.insert(node.name);
  }
  required.insert(self);
  std::vector<std::string> silent;
  std::vector<const DbNodeView*> reporting;
  for (const auto& name : required) {
    auto it = seen.find(name);
    const DbNodeView* node = it == seen.end() ? nullptr : it->second;
    // In Primary but unreachable by address, or not alive, or not reporting: not accounted for.
    if (node == nullptr || !node->alive ||
        (node->state != DbState::kStopped && node->state != DbState::kNonPrimary)) {
      silent.push_back(name);
    } else {
      reporting.push_back(node);
    }
  }
  if (!silent.empty()) {
    decision.why = "no Primary component; waiting for every db node to report its position (" +
                   fmt::format("{}", fmt::join(silent, ", ")) + " not yet)";
    return decision;
  }
  // One history, or none.
  std::set<std::string> histories;
  for (const auto* node : reporting) {
    if (HasHistory(*node)) histories.insert(node->uuid);
  }
  if (histories.size() > 1) {
    decision.why = "db nodes hold different histories (cluster state UUIDs " +
                   fmt::format("{}", fmt::join(histories, ", ")) +
                   "): the operator must choose which to keep";
    return decision;
  }
  const auto* chosen = *std::min_element(reporting.begin(), reporting.end(),
                                         [](const DbNodeView* a, const DbNodeView* b) {
                                           if (a->seqno != b->seqno) return a->seqno > b->seqno;
                                           return a->name < b->name;
                                         });
  if (chosen->name == self) {
    decision.action = DbAction::kBootstrap;
    decision.why = "forming the Primary component (seqno " + std::to_string(chosen->seqno) +
                   ", the highest of " + std::to_string(reporting.size()) + " db nodes)";
  } else {
    decision.why = "waiting for " + chosen->name + " to form the Primary component (seqno " +
                   std::to_string(chosen->seqno) + ")";
  }
  return decision;
}

std::string DbWriter(const std::vector<DbNodeView>& nodes) {
  std::string best;
  uint64_t best_hash = 0;
  for (const auto& node : nodes) {
    if (!node.alive || node.state != DbState::kSynced) continue;
    const uint64_t hash = RendezvousHash(kWriterKey, node.name);
    if (best.empty() || hash > best_hash || (hash == best_hash && node.name < best)) {
      best = node.name;
      best_hash = hash;
    }
  }
  return best;
}

}  // namespace starling::rules
