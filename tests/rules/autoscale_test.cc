// [unit] the autoscaler: table-driven steps, and no flapping at steady demand near a threshold.
#include "src/rules/autoscale.h"

#include <catch2/catch.hpp>

#include "base/rng.h"
#include "src/rules/load_average.h"

namespace starling::rules {
namespace {

Instant At(double seconds) {
  return Instant{} + Milliseconds(static_cast<int64_t>(seconds * 1000));
}

TEST_CASE("autoscale steps: windows, cooldowns, bounds", "[unit]") {
  struct Case {
    const char* what;
    SiteLoad site;
    double held_s;  // the same view, once a second, this long
    uint32_t expected;
  };
  const Case cases[] = {
      {"busy long enough: one more", {.desired = 1, .loads = {2.3}}, 11, 2},
      {"busy, but not for the window", {.desired = 1, .loads = {2.3}}, 9, 1},
      {"at the threshold counts", {.desired = 1, .loads = {2.0}}, 11, 2},
      {"just under: nothing", {.desired = 1, .loads = {1.99}}, 300, 1},
      {"at max: nothing", {.max = 2, .desired = 2, .loads = {3, 3}}, 300, 2},
      {"a copy still starting: no second step", {.desired = 3, .loads = {3, 3}}, 300, 3},
      {"mean, not the busiest copy", {.desired = 2, .loads = {3.5, 0.2}}, 300, 2},
      {"idle long enough: one fewer", {.desired = 3, .loads = {0.2, 0.1, 0.3}}, 61, 2},
      {"idle, not for the window", {.desired = 3, .loads = {0.2, 0.1, 0.3}}, 59, 3},
      {"at min: nothing", {.min = 2, .desired = 2, .loads = {0, 0}}, 300, 2},
      {"one copy under down but another not", {.desired = 2, .loads = {0.1, 1.2}}, 300, 2},
      // Two copies at 0.9: one would carry 1.8, past the midpoint 1.5: stays.
      {"the step down would cause a step up", {.desired = 2, .loads = {0.9, 0.9}}, 300, 2},
      // Four copies where two are wanted (extras left by a partition): the two would carry 2.8.
      {"extras share the load now, not after",
       {.desired = 2, .loads = {0.7, 0.7, 0.7, 0.7}},
       300,
       2},
      {"a copy missing (crashed): no step down", {.desired = 3, .loads = {0.2, 0.2}}, 300, 3},
      {"below min is raised at once", {.min = 2, .desired = 1, .loads = {}}, 1, 2},
      {"above max is lowered at once", {.max = 3, .desired = 5, .loads = {1, 1}}, 1, 3},
      {"nothing serving: nothing judged", {.desired = 2, .loads = {}}, 300, 2},
  };
  for (const Case& c : cases) {
    Autoscaler scaler;
    uint32_t desired = c.site.desired;
    int steps = 0;
    for (double t = 0; t <= c.held_s; t += 1) {
      SiteLoad site = c.site;
      site.desired = desired;
      const ScaleDecision decision = scaler.Round(At(t), site);
      if (decision.changed) {
        CHECK_FALSE(decision.reason.empty());
        ++steps;
        desired = decision.desired;
        break;  // the view would change after a step; one step is what is checked
      }
      CHECK(decision.desired == desired);
    }
    CAPTURE(c.what);
    CHECK(desired == c.expected);
    CHECK(steps <= 1);
  }
}

TEST_CASE("autoscale cooldowns hold steps apart", "[unit]") {
  Autoscaler scaler;
  SiteLoad site{.desired = 1, .loads = {3.0}};
  std::vector<double> steps_at;
  for (double t = 0; t < 120; t += 1) {
    auto decision = scaler.Round(At(t), site);
    if (decision.changed) {
      steps_at.push_back(t);
      site.desired = decision.desired;
      site.loads.assign(site.desired, 3.0);  // stays busy: every copy serving at once
    }
  }
  REQUIRE(steps_at.size() >= 2);
  for (size_t i = 1; i < steps_at.size(); ++i) CHECK(steps_at[i] - steps_at[i - 1] >= 20);
}

// A site whose demand is `demand` runnable tasks in all, shared by its serving copies, each
// copy's load the real LoadAverage of its share; a new copy serves 2 s after the step.
int CountDirectionChanges(double demand, double noise, uint64_t seed, uint32_t* final_copies) {
  Rng rng(seed);
  Autoscaler scaler;
  SiteLoad site{.desired = 1};
  std::vector<LoadAverage> copies(1);
  std::vector<double> started_at = {0};
  int last_direction = 0, changes = 0;
  for (int t = 0; t < 3 * 3600; ++t) {
    size_t serving = 0;
    for (double s : started_at) serving += t - s >= 2;
    site.loads.clear();
    for (size_t i = 0; i < copies.size(); ++i) {
      if (t - started_at[i] < 2) continue;
      // The share of the demand, as whole runnable tasks on average (randomised rounding).
      const double share = std::max(0.0, demand * (1 + noise * (rng.NextDouble() * 2 - 1))) /
                           static_cast<double>(serving);
      const auto whole = static_cast<uint32_t>(share);
      copies[i].Sample(whole + (rng.NextDouble() < share - whole ? 1 : 0));
      site.loads.push_back(copies[i].value());
    }
    const ScaleDecision decision = scaler.Round(At(t), site);
    if (!decision.changed) continue;
    const int direction = decision.desired > site.desired ? 1 : -1;
    if (last_direction != 0 && direction != last_direction) ++changes;
    last_direction = direction;
    site.desired = decision.desired;
    while (copies.size() < site.desired) {
      copies.emplace_back();
      started_at.push_back(t);
    }
    while (copies.size() > site.desired) {
      copies.pop_back();
      started_at.pop_back();
    }
  }
  *final_copies = site.desired;
  return changes;
}

TEST_CASE("no flapping at steady demand near either threshold", "[unit]") {
  // Demands at and around the thresholds for 1, 2 and 3 copies, with 10 % noise, 3 hours each.
  for (double demand : {1.9, 2.0, 2.1, 3.0, 3.9, 4.0, 4.1, 5.9, 6.1}) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      uint32_t copies = 0;
      const int changes = CountDirectionChanges(demand, 0.1, seed, &copies);
      CAPTURE(demand, seed, copies);
      CHECK(changes == 0);
      CHECK(copies >= 1);
      CHECK(copies <= static_cast<uint32_t>(demand / 2.0 * 1.1) + 1);
    }
  }
}

}  // namespace
}  // namespace starling::rules
