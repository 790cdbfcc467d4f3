#include "src/rules/files_volume.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace starling::rules {

std::string_view FilesStateName(FilesState state) {
  switch (state) {
    case FilesState::kUnknown:
      return "unknown";
    case FilesState::kDown:
      return "down";
    case FilesState::kNoVolume:
      return "no-volume";
    case FilesState::kStopped:
      return "stopped";
    case FilesState::kStarted:
      return "started";
  }
  return "unknown";
}

namespace {

bool KnowsVolume(const StorageNodeView& node) {
  return node.state == FilesState::kStopped || node.state == FilesState::kStarted;
}

std::vector<StorageNodeView> ByName(std::vector<StorageNodeView> nodes) {
  std::sort(nodes.begin(), nodes.end(),
            [](const StorageNodeView& a, const StorageNodeView& b) { return a.name < b.name; });
  return nodes;
}

FilesDecision Wait(std::string why) { return {FilesAction::kWait, {}, std::move(why)}; }

std::string BrickOf(const StorageNodeView& node) { return node.host + ":" + node.brick; }

FilesDecision Grow(const std::string& self, const std::vector<StorageNodeView>& sorted) {
  std::vector<const StorageNodeView*> waiting;
  const StorageNodeView* adder = nullptr;
  for (const auto& node : sorted) {
    if (!node.alive) continue;
    if (node.in_volume) {
      if (adder == nullptr && node.brick_up && KnowsVolume(node)) adder = &node;
    } else if (node.state >= FilesState::kNoVolume && !node.brick.empty()) {
      waiting.push_back(&node);
    }
  }
  if (waiting.size() < kFilesReplica) {
    const bool self_waits = std::any_of(waiting.begin(), waiting.end(),
                                        [&](const StorageNodeView* n) { return n->name == self; });
    if (!self_waits) return {FilesAction::kNone, {}, "the volume stands"};
    return Wait(fmt::format("waiting for {} more storage node(s) to add a replica set of {}",
                            kFilesReplica - waiting.size(), kFilesReplica));
  }
  if (adder == nullptr) return Wait("no node with a running brick to add the new ones");
  if (adder->name != self) {
    return {FilesAction::kNone, {}, adder->name + " adds the waiting storage nodes"};
  }
  FilesDecision decision{FilesAction::kAddBricks, {}, ""};
  for (size_t i = 0; i < kFilesReplica; ++i) decision.bricks.push_back(BrickOf(*waiting[i]));
  decision.why = fmt::format("adding a replica set: {}, {}, {}", waiting[0]->name, waiting[1]->name,
                             waiting[2]->name);
  return decision;
}

}  // namespace

FilesDecision DecideFilesVolume(const std::string& self, const std::vector<std::string>& registered,
                                const std::vector<StorageNodeView>& nodes) {
  const std::vector<StorageNodeView> sorted = ByName(nodes);
  if (std::any_of(sorted.begin(), sorted.end(),
                  [](const StorageNodeView& n) { return n.alive && KnowsVolume(n); })) {
    return Grow(self, sorted);
  }
  std::map<std::string, const StorageNodeView*> by_name;
  for (const auto& node : sorted) by_name[node.name] = &node;
  for (const auto& name : registered) {
    auto found = by_name.find(name);
    if (found == by_name.end() || !found->second->alive) {
      return Wait("waiting for registered storage node " + name + " before forming the volume");
    }
  }
  std::vector<const StorageNodeView*> members;
  for (const auto& node : sorted) {
    if (!node.alive) continue;
    if (node.state != FilesState::kNoVolume) {
      return Wait("waiting for storage node " + node.name + "'s glusterd (" +
                  std::string(FilesStateName(node.state)) + ")");
    }
    if (node.brick.empty()) return Wait("waiting for storage node " + node.name + "'s brick");
    members.push_back(&node);
  }
  if (members.size() < kFilesReplica) {
    return Wait(fmt::format("waiting for {} storage nodes to form the volume (have {})",
                            kFilesReplica, members.size()));
  }
  // The former: the lowest-named registered node (so a node not yet registered never forms).
  std::string former;
  for (const auto* node : members) {
    if (std::find(registered.begin(), registered.end(), node->name) != registered.end()) {
      former = node->name;
      break;
    }
  }
  if (former.empty()) return Wait("waiting for the storage nodes to register");
  if (former != self) return Wait(former + " forms the volume");
  FilesDecision decision{FilesAction::kCreate, {}, ""};
  // The former's brick first, then the others in name order, a multiple of three in all.
  const size_t count = members.size() / kFilesReplica * kFilesReplica;
  for (const auto* node : members) {
    if (node->name == former) decision.bricks.insert(decision.bricks.begin(), BrickOf(*node));
  }
  for (const auto* node : members) {
    if (decision.bricks.size() == count) break;
    if (node->name != former) decision.bricks.push_back(BrickOf(*node));
  }
  decision.why = fmt::format("forming the volume with {} bricks", decision.bricks.size());
  return decision;
}

std::string FilesKeeper(const std::vector<StorageNodeView>& nodes) {
  for (const auto& node : ByName(nodes)) {
    if (node.alive && node.in_volume && KnowsVolume(node)) return node.name;
  }
  return "";
}

std::vector<std::string> FilesVolfileServers(const std::vector<StorageNodeView>& nodes) {
  std::vector<std::string> hosts;
  for (const auto& node : ByName(nodes)) {
    if (node.alive && node.state == FilesState::kStarted) hosts.push_back(node.host);
  }
  return hosts;
}

}  // namespace starling::rules
