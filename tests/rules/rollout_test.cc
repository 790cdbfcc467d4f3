// A rollout's steps (rules::PlanRollout, and PlanRound's kReplace/kRetire): each node replaces
// its own copy, make before break, at most `surge` at once, none once the release is stopped;
// dead and draining nodes mid-rollout.
#include "src/rules/rollout.h"

#include <catch2/catch.hpp>

namespace starling::rules {
namespace {

constexpr uint64_t kOld = 11, kNew = 22;
constexpr CopyState kStarting = CopyState::kStarting, kServing = CopyState::kServing,
                    kStopping = CopyState::kStopping, kFailed = CopyState::kFailed;

std::vector<WorkerView> Workers(std::vector<std::string> draining = {}) {
  std::vector<WorkerView> workers;
  for (const char* name : {"a", "b", "c", "d"}) {
    const bool drains = std::find(draining.begin(), draining.end(), name) != draining.end();
    workers.push_back({name, 2, !drains});
  }
  return workers;
}

TEST_CASE("a rollout replaces copies one node at a time, make before break", "[unit]") {
  struct Row {
    const char* what;
    std::vector<CopyView> copies;
    uint32_t surge = 1;
    bool stopped = false;
    std::vector<std::string> draining;
    std::vector<std::string> replace, retire;
    size_t current = 0, outdated = 0;
  };
  const std::vector<Row> rows = {
      {"nothing to roll: every copy is current",
       {{"a", kServing, kNew}, {"b", kServing, kNew}},
       1,
       false,
       {},
       {},
       {},
       2,
       0},
      {"the first node (by name) starts its new copy",
       {{"b", kServing, kOld}, {"a", kServing, kOld}, {"c", kServing, kOld}},
       1,
       false,
       {},
       {"a"},
       {},
       0,
       3},
      {"while it starts, no other node begins",
       {{"a", kServing, kOld}, {"a", kStarting, kNew}, {"b", kServing, kOld}},
       1,
       false,
       {},
       {},
       {},
       1,
       2},
      {"once it serves, the old copy there retires and the next node begins",
       {{"a", kServing, kOld}, {"a", kServing, kNew}, {"b", kServing, kOld}},
       1,
       false,
       {},
       {"b"},
       {"a"},
       1,
       2},
      {"an old copy being stopped is not counted",
       {{"a", kStopping, kOld}, {"a", kServing, kNew}, {"b", kServing, kOld}},
       1,
       false,
       {},
       {"b"},
       {},
       1,
       1},
      {"surge 2: two nodes at once",
       {{"a", kServing, kOld}, {"b", kServing, kOld}, {"c", kServing, kOld}},
       2,
       false,
       {},
       {"a", "b"},
       {},
       0,
       3},
      {"surge 2 with one in flight: one more",
       {{"a", kServing, kOld},
        {"a", kStarting, kNew},
        {"b", kServing, kOld},
        {"c", kServing, kOld}},
       2,
       false,
       {},
       {"b"},
       {},
       1,
       3},
      {"stopped: nothing further is replaced; a new copy that serves retires its old one",
       {{"a", kServing, kOld}, {"a", kServing, kNew}, {"b", kServing, kOld}},
       1,
       true,
       {},
       {},
       {"a"},
       1,
       2},
      {"stopped: the failed new copy is gone, the old ones stay",
       {{"a", kServing, kOld}, {"a", kFailed, kNew}, {"b", kServing, kOld}},
       1,
       true,
       {},
       {},
       {},
       0,
       2},
      {"a node that died mid-replacement is out of the view: the next one begins",
       {{"a", kServing, kOld}, {"a", kStarting, kNew}, {"b", kServing, kOld}},
       1,
       false,
       {},
       {"b"},
       {},
       0,
       1},  // "a" is dropped from the workers below
      {"a draining node's old copy is not replaced (placement moves it)",
       {{"a", kServing, kOld}, {"b", kServing, kOld}},
       1,
       false,
       {"a"},
       {"b"},
       {},
       0,
       2},
      {"an old copy still starting is replaced once it serves",
       {{"a", kStarting, kOld}, {"b", kServing, kNew}},
       1,
       false,
       {},
       {},
       {},
       1,
       1},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    SiteView site{.name = "shop",
                  .release = kNew,
                  .rollout_stopped = row.stopped,
                  .surge = row.surge,
                  .copies = row.copies};
    std::vector<WorkerView> workers = Workers(row.draining);
    if (std::string(row.what).starts_with("a node that died")) workers.erase(workers.begin());
    const RolloutStep step = PlanRollout(site, workers);
    CHECK(step.replace == row.replace);
    CHECK(step.retire == row.retire);
    CHECK(step.current == row.current);
    CHECK(step.outdated == row.outdated);
  }
}

TEST_CASE("a site without a release rolls nothing", "[unit]") {
  SiteView site{.name = "shop", .copies = {{"a", kServing, kOld}}};
  const RolloutStep step = PlanRollout(site, Workers());
  CHECK(step.replace.empty());
  CHECK(step.outdated == 0);
}

TEST_CASE("PlanRound hands each node its own rollout step", "[unit]") {
  RoundView view;
  view.workers = Workers();
  view.sites.push_back(
      {.name = "shop",
       .desired = 2,
       .release = kNew,
       .copies = {{"a", kServing, kOld}, {"a", kServing, kNew}, {"b", kServing, kOld}}});
  std::map<std::string, Autoscaler> scalers_a, scalers_b;
  const auto decisions = PlanRound(Instant{}, view, {{"a", &scalers_a}, {"b", &scalers_b}}, {});
  std::vector<std::pair<Decision::Kind, std::string>> got;
  for (const Decision& d : decisions) {
    if (d.kind == Decision::Kind::kReplace || d.kind == Decision::Kind::kRetire) {
      got.emplace_back(d.kind, d.node);
    }
  }
  CHECK(got == std::vector<std::pair<Decision::Kind, std::string>>{{Decision::Kind::kReplace, "b"},
                                                                   {Decision::Kind::kRetire, "a"}});
  // Placement sees one node holding the site, not two copies to trim: no kStop.
  for (const Decision& d : decisions) CHECK(d.kind != Decision::Kind::kStop);
}

}  // namespace
}  // namespace starling::rules
