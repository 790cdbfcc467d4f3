// [unit] who forms and grows the site files' volume (src/rules/files_volume.h): one creator, only
// when every registered storage node is there, whatever order the view lists them in; replica
// sets added in threes by one node; workers mount from the nodes that know the volume started.
#include "src/rules/files_volume.h"

#include <algorithm>
#include <catch2/catch.hpp>

namespace starling::rules {
namespace {

StorageNodeView Node(const std::string& name, FilesState state = FilesState::kNoVolume) {
  return {name, "10.0.0." + name.substr(1), "/b", true, state, false, false};
}
StorageNodeView InVolume(const std::string& name, bool up = true) {
  StorageNodeView node = Node(name, FilesState::kStarted);
  node.in_volume = true;
  node.brick_up = up;
  return node;
}
StorageNodeView Dead(StorageNodeView node) {
  node.alive = false;
  return node;
}

// Every node's decision over every order of the view: the same, and at most one acts.
std::vector<FilesDecision> Everyone(const std::vector<std::string>& registered,
                                    std::vector<StorageNodeView> nodes) {
  std::vector<FilesDecision> first;
  std::sort(nodes.begin(), nodes.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<std::string> names;
  for (const auto& node : nodes) names.push_back(node.name);
  bool initial = true;
  do {
    std::vector<FilesDecision> now;  // in name order, whatever the view's
    for (const auto& name : names) now.push_back(DecideFilesVolume(name, registered, nodes));
    if (initial) {
      first = now;
      initial = false;
    }
    for (size_t i = 0; i < now.size(); ++i) {
      CHECK(now[i].action == first[i].action);
      CHECK(now[i].bricks == first[i].bricks);
    }
  } while (std::next_permutation(nodes.begin(), nodes.end(),
                                 [](const auto& a, const auto& b) { return a.name < b.name; }));
  const auto acting = std::count_if(first.begin(), first.end(), [](const FilesDecision& d) {
    return d.action == FilesAction::kCreate || d.action == FilesAction::kAddBricks;
  });
  CHECK(acting <= 1);
  return first;
}

TEST_CASE("files volume: formed once, by the lowest registered node, when all are there",
          "[unit]") {
  const std::vector<std::string> all = {"n1", "n2", "n3"};
  auto decisions = Everyone(all, {Node("n3"), Node("n1"), Node("n2")});
  REQUIRE(decisions[0].action == FilesAction::kCreate);
  CHECK(decisions[0].bricks ==
        std::vector<std::string>{"10.0.0.1:/b", "10.0.0.2:/b", "10.0.0.3:/b"});
  CHECK(decisions[1].action == FilesAction::kWait);
  CHECK_THAT(decisions[1].why, Catch::Contains("n1 forms the volume"));

  struct Case {
    std::string name;
    std::vector<std::string> registered;
    std::vector<StorageNodeView> nodes;
    std::string says;
  };
  const std::vector<Case> waits = {
      {"two are too few", {"n1", "n2"}, {Node("n1"), Node("n2")}, "3 storage nodes"},
      {"a registered node is silent (a partition at the first start)",
       {"n1", "n2", "n3", "n4"},
       {Node("n1"), Node("n2"), Node("n3")},
       "registered storage node n4"},
      {"a registered node is dead",
       all,
       {Node("n1"), Node("n2"), Dead(Node("n3"))},
       "registered storage node n3"},
      {"a glusterd is not up yet",
       all,
       {Node("n1"), Node("n2", FilesState::kDown), Node("n3")},
       "n2's glusterd"},
      {"nobody registered yet", {}, {Node("n1"), Node("n2"), Node("n3")}, "register"},
      {"a brick not known yet",
       all,
       {Node("n1"), Node("n2"),
        [] {
          auto node = Node("n3");
          node.brick.clear();
          return node;
        }()},
       "n3's brick"},
  };
  for (const auto& c : waits) {
    INFO(c.name);
    for (const auto& decision : Everyone(c.registered, c.nodes)) {
      CHECK(decision.action == FilesAction::kWait);
      CHECK_THAT(decision.why, Catch::Contains(c.says));
    }
  }
  // Four: a replica set of three now (the former and the next two), the fourth waits to grow.
  decisions = Everyone({"n1", "n2", "n3", "n4"}, {Node("n4"), Node("n2"), Node("n1"), Node("n3")});
  REQUIRE(decisions[0].action == FilesAction::kCreate);
  CHECK(decisions[0].bricks ==
        std::vector<std::string>{"10.0.0.1:/b", "10.0.0.2:/b", "10.0.0.3:/b"});
  // An unregistered node with a lower name does not form it; the lowest registered does.
  decisions = Everyone({"n2", "n3", "n4"}, {Node("n1"), Node("n2"), Node("n3"), Node("n4")});
  CHECK(decisions[0].action == FilesAction::kWait);
  REQUIRE(decisions[1].action == FilesAction::kCreate);
  CHECK(decisions[1].bricks ==
        std::vector<std::string>{"10.0.0.2:/b", "10.0.0.1:/b", "10.0.0.3:/b"});
}

TEST_CASE("files volume: once it exists nobody forms another, and joiners are added in threes",
          "[unit]") {
  const std::vector<std::string> registered = {"n1", "n2", "n3", "n4", "n5", "n6"};
  // One node knows a volume: no create, even with a registered node silent.
  for (const auto& decision :
       Everyone(registered, {InVolume("n1"), Node("n2"), Node("n3"), Node("n4")})) {
    CHECK(decision.action != FilesAction::kCreate);
  }
  // Two joiners wait for a third.
  auto decisions = Everyone(registered, {InVolume("n1"), InVolume("n2"), InVolume("n3"), Node("n4"),
                                         Node("n5", FilesState::kStarted)});
  CHECK(decisions[0].action == FilesAction::kNone);
  CHECK(decisions[3].action == FilesAction::kWait);
  CHECK_THAT(decisions[3].why, Catch::Contains("1 more"));
  // Three: the lowest node with a running brick adds them; a down brick's node does not.
  decisions = Everyone(registered, {InVolume("n1", /*up=*/false), InVolume("n2"), InVolume("n3"),
                                    Node("n4"), Node("n5"), Node("n6")});
  CHECK(decisions[0].action == FilesAction::kNone);
  REQUIRE(decisions[1].action == FilesAction::kAddBricks);
  CHECK(decisions[1].bricks ==
        std::vector<std::string>{"10.0.0.4:/b", "10.0.0.5:/b", "10.0.0.6:/b"});
  // A dead joiner is not added.
  decisions = Everyone(registered, {InVolume("n1"), InVolume("n2"), InVolume("n3"), Node("n4"),
                                    Node("n5"), Dead(Node("n6"))});
  for (const auto& decision : decisions) CHECK(decision.action != FilesAction::kAddBricks);
}

TEST_CASE("files volume: one keeper, the lowest alive node with a brick in it", "[unit]") {
  CHECK(FilesKeeper({Node("n1"), Node("n2")}).empty());
  CHECK(FilesKeeper({InVolume("n3"), Dead(InVolume("n1")), InVolume("n2", /*up=*/false)}) == "n2");
  StorageNodeView stopped = InVolume("n1", false);
  stopped.state = FilesState::kStopped;  // a volume made and not started: its keeper starts it
  CHECK(FilesKeeper({InVolume("n2"), stopped}) == "n1");
}

TEST_CASE("files volume: workers mount from the nodes that know it started, in name order",
          "[unit]") {
  CHECK(FilesVolfileServers({Node("n1"), Node("n2")}).empty());
  CHECK(FilesVolfileServers({InVolume("n3"), Dead(InVolume("n1")), InVolume("n2"),
                             Node("n4", FilesState::kStopped)}) ==
        std::vector<std::string>{"10.0.0.2", "10.0.0.3"});
}

}  // namespace
}  // namespace starling::rules
