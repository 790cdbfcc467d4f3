// [unit] placement and the coordinator: the same view gives the same plan on every node, in any
// order; copies stay where they are; new ones go to the best-ranked free workers.
#include "src/rules/placement.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>

#include "base/rng.h"

namespace starling::rules {
namespace {

std::vector<WorkerView> Workers(int n, uint32_t free_slots = 4) {
  std::vector<WorkerView> workers;
  for (int i = 1; i <= n; ++i) workers.push_back({"node-" + std::to_string(i), free_slots, true});
  return workers;
}

TEST_CASE("the rendezvous hash is fixed: SipHash-2-4 under the zero key", "[unit]") {
  // Pinned values: a change here would move every site's coordinator on a rolling upgrade.
  CHECK(RendezvousHash("shop", "node-1") != RendezvousHash("shop", "node-2"));
  CHECK(RendezvousHash("shop", "node-1") != RendezvousHash("shopnode-1", ""));
  CHECK(RendezvousHash("a", "b") == 0xf59b60f31b14f7baULL);
}

TEST_CASE("the plan depends on the view, not on its order", "[unit]") {
  Rng rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    auto workers = Workers(3 + static_cast<int>(rng.Uniform(10)));
    for (auto& worker : workers) {
      worker.free_slots = static_cast<uint32_t>(rng.Uniform(5));
      worker.eligible = rng.Uniform(8) != 0;
    }
    std::vector<CopyView> copies;
    for (const auto& worker : workers) {
      if (rng.Uniform(3) == 0) {
        copies.push_back({worker.name, static_cast<CopyState>(rng.Uniform(4))});
      }
    }
    copies.push_back({"node-gone", CopyState::kServing});  // a dead node's copy
    const uint32_t desired = static_cast<uint32_t>(rng.Uniform(6));
    const std::string site = "site-" + std::to_string(trial);
    const Placement first = Place(site, desired, workers, copies);
    CAPTURE(trial);
    for (int order = 0; order < 5; ++order) {
      Shuffle(&workers, &rng);
      Shuffle(&copies, &rng);
      const Placement again = Place(site, desired, workers, copies);
      REQUIRE(again.chosen == first.chosen);
      REQUIRE(again.remove == first.remove);
      REQUIRE(again.start == first.start);
    }
    // Never more than desired, never a dead or ineligible node, never the same node twice.
    CHECK(first.chosen.size() <= desired);
    for (const auto& node : first.chosen) {
      auto it = std::find_if(workers.begin(), workers.end(),
                             [&](const WorkerView& w) { return w.name == node; });
      REQUIRE(it != workers.end());
      CHECK(it->eligible);
    }
    CHECK(std::adjacent_find(first.chosen.begin(), first.chosen.end()) == first.chosen.end());
  }
}

TEST_CASE("placement keeps copies, adds on free workers, removes the worst-ranked", "[unit]") {
  auto workers = Workers(6);
  SECTION("new copies go to the same nodes whoever computes it") {
    const Placement plan = Place("shop", 2, workers, {});
    CHECK(plan.chosen.size() == 2);
    CHECK(plan.start == plan.chosen);
    CHECK(plan.remove.empty());
  }
  SECTION("existing copies stay; one more is added elsewhere") {
    const std::vector<CopyView> copies = {{"node-5", CopyState::kServing}};
    const Placement plan = Place("shop", 2, workers, copies);
    CHECK(std::count(plan.chosen.begin(), plan.chosen.end(), "node-5") == 1);
    CHECK(plan.start.size() == 1);
    CHECK(plan.start[0] != "node-5");
  }
  SECTION("a full node gets nothing") {
    for (auto& worker : workers) worker.free_slots = worker.name == "node-2" ? 1 : 0;
    const Placement plan = Place("shop", 3, workers, {});
    CHECK(plan.chosen == std::vector<std::string>{"node-2"});
  }
  SECTION("too many: the worst-ranked go, and only once the rest serve") {
    std::vector<CopyView> copies = {{"node-1", CopyState::kServing},
                                    {"node-2", CopyState::kServing},
                                    {"node-3", CopyState::kStarting}};
    const Placement plan = Place("shop", 2, workers, copies);
    REQUIRE(plan.chosen.size() == 2);
    REQUIRE(plan.remove.size() == 1);
    CHECK(std::find(plan.chosen.begin(), plan.chosen.end(), plan.remove[0]) == plan.chosen.end());
    const bool starting_chosen =
        std::find(plan.chosen.begin(), plan.chosen.end(), "node-3") != plan.chosen.end();
    CHECK(SafeToStop(plan, copies) == !starting_chosen);
    copies[2].state = CopyState::kServing;
    CHECK(SafeToStop(plan, copies));
  }
  SECTION("a dead node's copy is replaced; a draining node's copy is removed") {
    std::vector<CopyView> copies = {{"node-9", CopyState::kServing},
                                    {"node-4", CopyState::kServing}};
    workers[3].eligible = false;  // node-4 drains
    const Placement plan = Place("shop", 2, workers, copies);
    CHECK(plan.chosen.size() == 2);
    CHECK(plan.start.size() == 2);
    CHECK(plan.remove == std::vector<std::string>{"node-4"});
  }
}

TEST_CASE("new copies spread with free slots and move little when a node joins", "[unit]") {
  auto workers = Workers(10);
  std::map<std::string, int> first_choice;
  std::vector<std::string> before;
  for (int s = 0; s < 2000; ++s) {
    const auto plan = Place("site-" + std::to_string(s), 1, workers, {});
    first_choice[plan.chosen.at(0)]++;
    before.push_back(plan.chosen.at(0));
  }
  for (const auto& [node, count] : first_choice) CHECK((count > 120 && count < 290));
  // Weighted: a node with twice the free slots wins about twice as often.
  workers[0].free_slots = 8;
  int wins = 0;
  for (int s = 0; s < 2000; ++s) {
    wins += Place("site-" + std::to_string(s), 1, workers, {}).chosen.at(0) == "node-1";
  }
  CHECK((wins > 280 && wins < 460));  // expected 2/11 of 2000 = 364
  // A new node takes about 1/11 of the sites; the others keep theirs.
  workers = Workers(11);
  int moved = 0;
  for (int s = 0; s < 2000; ++s) {
    const auto chosen = Place("site-" + std::to_string(s), 1, workers, {}).chosen.at(0);
    if (chosen != before[s]) {
      ++moved;
      CHECK(chosen == "node-11");
    }
  }
  CHECK((moved > 100 && moved < 280));
}

TEST_CASE("the coordinator is the highest hash among alive workers", "[unit]") {
  std::vector<std::string> alive = {"node-1", "node-2", "node-3", "node-4"};
  const std::string coordinator = Coordinator("shop", alive);
  REQUIRE(!coordinator.empty());
  std::vector<std::string> reversed(alive.rbegin(), alive.rend());
  CHECK(Coordinator("shop", reversed) == coordinator);
  // Another node leaving changes nothing; the coordinator leaving hands over to one node.
  std::vector<std::string> without_other, without_coordinator;
  for (const auto& node : alive) {
    if (node != coordinator) without_coordinator.push_back(node);
  }
  without_other = alive;
  std::erase(without_other, without_coordinator.front());
  CHECK(Coordinator("shop", without_other) == coordinator);
  CHECK(Coordinator("shop", without_coordinator) != coordinator);
  CHECK(Coordinator("shop", {}).empty());
}

}  // namespace
}  // namespace starling::rules
