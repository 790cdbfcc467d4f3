#include "src/agent/member_views.h"

#include <fmt/format.h>

#include "src/agent/config.h"

namespace starling::agent {

using gossip::MemberStatus;
using gossip::Role;

std::vector<rules::MemberReport> CopyMembers(const gossip::Swim& core) {
  std::vector<rules::MemberReport> out;
  for (const gossip::Member* member : core.members()) {
    if (member->status != MemberStatus::kAlive) continue;
    rules::MemberReport view{.name = member->name(),
                             .worker = member->meta().role != Role::kBalancer,
                             .capacity = member->meta().capacity};
    if (const gossip::LoadReport* load = core.LoadOf(member->name())) {
      for (const auto& copy : load->copies) {
        view.copies.push_back({copy.site,
                               copy.draining  ? rules::CopyState::kStopping
                               : copy.serving ? rules::CopyState::kServing
                                              : rules::CopyState::kStarting,
                               copy.load1, copy.release});
      }
    }
    out.push_back(std::move(view));
  }
  return out;
}

std::vector<std::string> MemberHosts(const gossip::Swim& core) {
  std::vector<std::string> hosts;
  for (const gossip::Member* member : core.members()) {
    hosts.push_back(member->address().host);
    if (auto api = ParseApiAddress(member->meta().api_address, "api"); api.ok()) {
      hosts.push_back(api->address.host);
    }
  }
  return hosts;
}

std::vector<rules::DbNodeView> DbNodes(const gossip::Swim& core) {
  std::vector<rules::DbNodeView> nodes;
  for (const gossip::Member* member : core.members()) {
    if (!member->meta().database || member->status == MemberStatus::kLeft) continue;
    rules::DbNodeView view;
    view.name = member->name();
    view.alive = member->status == MemberStatus::kAlive;
    if (const gossip::LoadReport* load = core.LoadOf(member->name())) {
      view.state = static_cast<rules::DbState>(load->database.state);
      view.uuid = load->database.uuid;
      view.seqno = load->database.seqno;
      view.address = load->database.galera_address;
      view.client_address = load->database.client_address;
    }
    nodes.push_back(std::move(view));
  }
  return nodes;
}

std::vector<rules::StorageNodeView> StorageNodes(const gossip::Swim& core) {
  std::vector<rules::StorageNodeView> nodes;
  for (const gossip::Member* member : core.members()) {
    if (!member->meta().storage || member->status == MemberStatus::kLeft) continue;
    rules::StorageNodeView view;
    view.name = member->name();
    view.host = member->address().host;
    view.alive = member->status == MemberStatus::kAlive;
    if (const gossip::LoadReport* load = core.LoadOf(member->name())) {
      view.state = static_cast<rules::FilesState>(load->files.state);
      view.in_volume = load->files.in_volume;
      view.brick_up = load->files.brick_up;
    }
    nodes.push_back(std::move(view));
  }
  return nodes;
}

uint64_t CopyStatesDigest(const gossip::Swim& core) {
  uint64_t digest = 0;
  for (const gossip::Member* member : core.members()) {
    if (member->status != MemberStatus::kAlive) continue;
    const gossip::LoadReport* load = core.LoadOf(member->name());
    if (load == nullptr) continue;
    std::string facts = member->name();
    for (const auto& copy : load->copies) {
      facts += fmt::format("|{}:{}{}:{}", copy.site, copy.serving ? 's' : '-',
                           copy.draining ? 'd' : '-', copy.release);
    }
    digest ^= std::hash<std::string>{}(facts);  // members in any order
  }
  return digest;
}

std::vector<std::string> RunningCopies(const gossip::Swim& core) {
  std::vector<std::string> out;
  for (const gossip::Member* member : core.members()) {
    if (member->status == MemberStatus::kAlive && member->meta().capacity > 0) {
      out.push_back(member->name());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

WorkerCounts CountWorkers(const gossip::Swim& core) {
  WorkerCounts counts;
  for (const gossip::Member* member : core.members()) {
    if (member->meta().role == Role::kBalancer || member->status == MemberStatus::kLeft) continue;
    ++counts.known;
    if (member->status != MemberStatus::kAlive) continue;
    // A live worker whose load report has not arrived looks like one without copies.
    const bool self = member->name() == core.name();
    if (self || core.LoadOf(member->name()) != nullptr) {
      ++counts.live;
    } else {
      ++counts.reports_missing;
    }
  }
  return counts;
}

std::vector<balancer::WorkerCopies> BalancedWorkers(const gossip::Swim& core) {
  std::vector<balancer::WorkerCopies> workers;
  for (const gossip::Member* member : core.members()) {
    const bool suspect = member->status == MemberStatus::kSuspect;
    if (member->status != MemberStatus::kAlive && !suspect) continue;
    if (member->meta().role == Role::kBalancer) continue;
    const gossip::LoadReport* load = core.LoadOf(member->name());
    if (load == nullptr || load->copies.empty()) continue;
    workers.push_back({member->address().host, load->copies, suspect});
  }
  return workers;
}

std::vector<std::string> BalancerPeers(const gossip::Swim& core, const std::string& self) {
  std::vector<std::string> peers;
  for (const gossip::Member* member : core.members()) {
    if (member->name() == self || member->status == MemberStatus::kLeft) continue;
    if (member->meta().role == Role::kWorker) continue;
    peers.push_back(member->address().host);
  }
  return peers;
}

std::vector<std::pair<std::string, gossip::Address>> LiveBalancers(const gossip::Swim& core,
                                                                   const std::string& except) {
  std::vector<std::pair<std::string, gossip::Address>> out;
  for (const gossip::Member* member : core.SortedMembers()) {
    if (member->status != MemberStatus::kAlive || member->name() == except) continue;
    if (member->meta().role == Role::kWorker) continue;
    out.emplace_back(member->name(), member->address());
  }
  return out;
}

}  // namespace starling::agent
