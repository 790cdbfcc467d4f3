// [unit] who forms the database cluster and who takes its writes (src/rules/db_cluster.h): never
// two bootstraps and never one from a node behind another, in every order the db nodes come back
// and whatever part of them each node sees; one writer, the same from any order of the view.
#include "src/rules/db_cluster.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <set>

namespace starling::rules {
namespace {

constexpr char kUuid[] = "6b1f2c3a-0000-4000-8000-00000000abcd";

DbNodeView Stopped(const std::string& name, int64_t seqno, const std::string& uuid = kUuid) {
  return {name, true, DbState::kStopped, uuid, seqno, name + ":4567"};
}

DbNodeView With(DbNodeView node, DbState state) {
  node.state = state;
  return node;
}

DbNodeView Dead(DbNodeView node) {
  node.alive = false;
  return node;
}

TEST_CASE("DB start: a Primary component is joined, whoever else is silent", "[unit]") {
  const std::vector<std::string> registered = {"a", "b", "c"};
  auto decision = DecideDbStart("c", registered,
                                {With(Stopped("a", 5), DbState::kSynced),
                                 With(Stopped("b", 5), DbState::kDonor), Stopped("c", 3)});
  CHECK(decision.action == DbAction::kJoin);
  CHECK(decision.peers == std::vector<std::string>{"a:4567", "b:4567"});
  // Only alive members count: a dead Synced report is no Primary to join.
  decision = DecideDbStart(
      "c", registered,
      {Dead(With(Stopped("a", 5), DbState::kSynced)), Stopped("b", 5), Stopped("c", 3)});
  CHECK(decision.action == DbAction::kWait);
  CHECK_THAT(decision.why, Catch::Contains("a not yet"));
}

TEST_CASE("DB start: the table of cold starts", "[unit]") {
  struct Case {
    std::string name;
    std::vector<std::string> registered;
    std::vector<DbNodeView> nodes;
    std::string bootstrapper;  // empty: nobody
    std::string says;          // in every waiting node's why
  };
  const std::string other_uuid = "11111111-2222-4333-8444-555555555555";
  const std::vector<Case> cases = {
      {"the first db node ever, alone", {"a"}, {Stopped("a", -1, "")}, "a", ""},
      {"the first node, not yet registered", {}, {Stopped("a", -1, "")}, "a", ""},
      {"new nodes with empty data: the lowest name",
       {"a", "b", "c"},
       {Stopped("c", -1, ""), Stopped("b", -1, ""), Stopped("a", -1, "")},
       "a",
       "waiting for a"},
      {"the highest seqno",
       {"a", "b", "c"},
       {Stopped("a", 10), Stopped("b", 12), Stopped("c", 11)},
       "b",
       "waiting for b"},
      {"a tie on seqno: the lowest name",
       {"a", "b", "c"},
       {Stopped("a", 10), Stopped("c", 12), Stopped("b", 12)},
       "b",
       "waiting for b"},
      {"a registered node is dead",
       {"a", "b", "c"},
       {Stopped("a", 10), Stopped("b", 12), Dead(Stopped("c", 50))},
       "",
       "c not yet"},
      {"a registered node is unseen",
       {"a", "b", "c"},
       {Stopped("a", 10), Stopped("b", 12)},
       "",
       "c not yet"},
      {"an unregistered db node reporting counts too",
       {"a", "b"},
       {Stopped("a", 10), Stopped("b", 12), Stopped("c", 20)},
       "c",
       "waiting for c"},
      {"two new nodes, neither registered, one not reporting yet",
       {},
       {Stopped("a", -1, ""), With(Stopped("b", -1, ""), DbState::kUnknown)},
       "",
       "b not yet"},
      {"a node still recovering its position",
       {"a", "b"},
       {Stopped("a", 10), With(Stopped("b", 12), DbState::kUnknown)},
       "",
       "b not yet"},
      {"running outside a Primary component counts as reporting",
       {"a", "b"},
       {With(Stopped("a", 10), DbState::kNonPrimary), Stopped("b", 7)},
       "a",
       "waiting for a"},
      {"two histories: nobody",
       {"a", "b"},
       {Stopped("a", 10), Stopped("b", 12, other_uuid)},
       "",
       "different histories"},
      {"an empty node beside a history",
       {"a", "b"},
       {Stopped("a", -1, ""), Stopped("b", 3)},
       "b",
       "waiting for b"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    for (const auto& node : c.nodes) {
      if (!node.alive || node.state == DbState::kUnknown) continue;
      const DbDecision decision = DecideDbStart(node.name, c.registered, c.nodes);
      INFO(node.name << ": " << decision.why);
      if (node.name == c.bootstrapper) {
        CHECK(decision.action == DbAction::kBootstrap);
      } else {
        CHECK(decision.action == DbAction::kWait);
        CHECK_THAT(decision.why, Catch::Contains(c.says));
      }
    }
  }
}

TEST_CASE(
    "DB start: in every order of arrival and every partial view, one bootstrap at most, "
    "from the most advanced node",
    "[unit]") {
  // Four db nodes come back after a power cut, each seeing any subset of the others (gossip
  // still spreading, or a partition). Over all of those views, only the most advanced node ever
  // bootstraps, and only once it sees everyone.
  const std::vector<std::vector<DbNodeView>> clusters = {
      {Stopped("a", 40), Stopped("b", 42), Stopped("c", 42), Stopped("d", 41)},
      {Stopped("a", -1, ""), Stopped("b", -1, ""), Stopped("c", -1, ""), Stopped("d", -1, "")},
      {Stopped("d", 7), Stopped("c", 6), Stopped("b", 5), Stopped("a", 4)},
  };
  const std::vector<std::string> expected = {"b", "a", "d"};
  for (size_t k = 0; k < clusters.size(); ++k) {
    const auto& all = clusters[k];
    const std::vector<std::string> registered = {"a", "b", "c", "d"};
    std::set<std::string> bootstrappers;
    for (const auto& self : all) {
      // Every subset of the others that self may see.
      for (unsigned mask = 0; mask < (1u << all.size()); ++mask) {
        std::vector<DbNodeView> view;
        for (size_t i = 0; i < all.size(); ++i) {
          if (all[i].name == self.name || (mask & (1u << i))) view.push_back(all[i]);
        }
        // ...in every order.
        std::sort(view.begin(), view.end(),
                  [](const DbNodeView& x, const DbNodeView& y) { return x.name < y.name; });
        do {
          const DbDecision decision = DecideDbStart(self.name, registered, view);
          if (decision.action == DbAction::kBootstrap) {
            bootstrappers.insert(self.name);
            CHECK(view.size() == all.size());
          }
          CHECK(decision.action != DbAction::kJoin);  // nobody is Primary
        } while (std::next_permutation(
            view.begin(), view.end(),
            [](const DbNodeView& x, const DbNodeView& y) { return x.name < y.name; }));
      }
    }
    INFO("cluster " << k);
    CHECK(bootstrappers == std::set<std::string>{expected[k]});
  }
}

TEST_CASE("DB writer: the Synced node of the highest hash, the same from any order", "[unit]") {
  std::vector<DbNodeView> nodes;
  for (const char* name : {"db-1", "db-2", "db-3", "db-4", "db-5"}) {
    nodes.push_back(With(Stopped(name, 9), DbState::kSynced));
  }
  const std::string writer = DbWriter(nodes);
  REQUIRE_FALSE(writer.empty());
  std::vector<DbNodeView> shuffled = nodes;
  std::sort(shuffled.begin(), shuffled.end(),
            [](const DbNodeView& x, const DbNodeView& y) { return x.name < y.name; });
  do {
    CHECK(DbWriter(shuffled) == writer);
  } while (std::next_permutation(
      shuffled.begin(), shuffled.end(),
      [](const DbNodeView& x, const DbNodeView& y) { return x.name < y.name; }));

  // Another node leaving changes nothing; the writer leaving Synced (or dying) hands over to
  // one successor, the same for everyone.
  for (auto& node : nodes) {
    if (node.name == writer) continue;
    std::vector<DbNodeView> fewer = nodes;
    std::erase_if(fewer, [&](const DbNodeView& n) { return n.name == node.name; });
    CHECK(DbWriter(fewer) == writer);
  }
  std::string successor;
  for (DbState leaving :
       {DbState::kDonor, DbState::kJoining, DbState::kNonPrimary, DbState::kStopped}) {
    std::vector<DbNodeView> changed = nodes;
    for (auto& node : changed) {
      if (node.name == writer) node.state = leaving;
    }
    const std::string next = DbWriter(changed);
    CHECK_FALSE(next.empty());
    CHECK(next != writer);
    if (successor.empty()) successor = next;
    CHECK(next == successor);
  }
  for (auto& node : nodes) {
    if (node.name == writer) node.alive = false;
  }
  CHECK(DbWriter(nodes) == successor);
  // Nobody Synced: no writer.
  for (auto& node : nodes) node.state = DbState::kJoining;
  CHECK(DbWriter(nodes).empty());
}

}  // namespace
}  // namespace starling::rules
