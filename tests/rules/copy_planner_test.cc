// [unit] one round of the copy rules: the coordinator alone scales, the chosen node starts, an
// extra copy stops only once the chosen ones serve — and nodes deciding together or one by one
// from the same view decide the same.
#include "src/rules/copy_planner.h"

#include <catch2/catch.hpp>

namespace starling::rules {
namespace {

Instant At(int seconds) { return Instant{} + Seconds(seconds); }

RoundView View(uint32_t desired, std::vector<CopyView> copies, std::vector<double> loads) {
  RoundView view;
  for (int i = 1; i <= 4; ++i) view.workers.push_back({"node-" + std::to_string(i), 4, true});
  view.sites.push_back({.name = "shop",
                        .min = 1,
                        .max = 4,
                        .desired = desired,
                        .copies = std::move(copies),
                        .loads = std::move(loads)});
  return view;
}

std::string Describe(const std::vector<Decision>& decisions) {
  std::string out;
  for (const auto& d : decisions) {
    out += std::to_string(static_cast<int>(d.kind)) + ":" + d.node + ":" + std::to_string(d.count) +
           ";";
  }
  return out;
}

TEST_CASE("a round: the coordinator scales, the chosen node starts", "[unit]") {
  const RoundView busy = View(1, {{"node-2", CopyState::kServing}}, {2.6});
  std::map<std::string, std::map<std::string, Autoscaler>> autoscalers;
  std::vector<Decider> all;
  for (const auto& worker : busy.workers) all.push_back({worker.name, &autoscalers[worker.name]});
  std::vector<Decision> decisions;
  for (int t = 0; t <= 10 && decisions.empty(); ++t) {
    decisions = PlanRound(At(t), busy, all, AutoscaleOptions{});
  }
  REQUIRE(decisions.size() == 1);
  CHECK(decisions[0].kind == Decision::Kind::kScale);
  CHECK(decisions[0].count == 2);
  CHECK(decisions[0].was == 1);
  CHECK_THAT(decisions[0].why, Catch::Contains("2.6"));
  CHECK(decisions[0].node == Coordinator("shop", {"node-1", "node-2", "node-3", "node-4"}));
  CHECK_FALSE(decisions[0].reason.empty());
  // Only the coordinator holds an autoscaler for the site.
  for (const auto& [node, scalers] : autoscalers) {
    CHECK(scalers.contains("shop") == (node == decisions[0].node));
  }

  // With two wanted, one node is told to start; every node alone computes the same.
  const RoundView two = View(2, {{"node-2", CopyState::kServing}}, {2.6});
  std::map<std::string, std::map<std::string, Autoscaler>> fresh;
  std::vector<Decider> together;
  for (const auto& worker : two.workers) together.push_back({worker.name, &fresh[worker.name]});
  const auto joint = PlanRound(At(20), two, together, AutoscaleOptions{});
  REQUIRE(joint.size() == 1);
  CHECK(joint[0].kind == Decision::Kind::kStart);
  CHECK(joint[0].node != "node-2");
  std::vector<Decision> alone;
  for (const auto& worker : two.workers) {
    std::map<std::string, Autoscaler> own;
    for (auto& d : PlanRound(At(20), two, {{worker.name, &own}}, AutoscaleOptions{})) {
      alone.push_back(d);
    }
  }
  CHECK(Describe(alone) == Describe(joint));
}

TEST_CASE("a round: an extra copy stops only when the chosen ones serve", "[unit]") {
  std::map<std::string, std::map<std::string, Autoscaler>> autoscalers;
  RoundView view =
      View(1, {{"node-1", CopyState::kServing}, {"node-3", CopyState::kStarting}}, {0.4});
  std::vector<Decider> all;
  for (const auto& worker : view.workers) all.push_back({worker.name, &autoscalers[worker.name]});
  const Placement plan = Place("shop", 1, view.workers, view.sites[0].copies);
  REQUIRE(plan.chosen.size() == 1);
  const auto before = PlanRound(At(0), view, all, AutoscaleOptions{});
  const bool chosen_serves = plan.chosen[0] == "node-1";
  CHECK(before.size() == (chosen_serves ? 1u : 0u));
  for (auto& copy : view.sites[0].copies) copy.state = CopyState::kServing;
  const auto after = PlanRound(At(1), view, all, AutoscaleOptions{});
  REQUIRE(after.size() == 1);
  CHECK(after[0].kind == Decision::Kind::kStop);
  CHECK(after[0].node == plan.remove.at(0));
}

}  // namespace
}  // namespace starling::rules
