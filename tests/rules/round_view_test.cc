// The round view (rules::BuildRoundView): what one planning round sees, from what a node holds.
// The agent and the copies simulator both build their rounds with it.
#include "src/rules/round_view.h"

#include <algorithm>
#include <catch2/catch.hpp>

namespace starling::rules {
namespace {

RoundInput Example() {
  RoundInput input;
  input.self = "b";
  input.sites = {{.name = "shop", .min = 1, .max = 4, .desired = 2},
                 {.name = "blog", .min = 1, .max = 2, .up = 3, .down = 0.5, .desired = 1}};
  input.members = {
      {.name = "c", .capacity = 2, .copies = {{"shop", CopyState::kServing, 2.5}}},
      {.name = "lb", .worker = false, .capacity = 0, .copies = {{"shop", CopyState::kServing, 9}}},
      {.name = "a",
       .capacity = 4,
       .copies = {{"shop", CopyState::kServing, 1.5},
                  {"blog", CopyState::kStarting, 0},
                  {"gone", CopyState::kServing, 7}}},
      // b's report is stale: its own list says it now runs a stopping shop copy and a blog one.
      {.name = "b", .capacity = 3, .copies = {{"shop", CopyState::kStarting, 0}}},
  };
  input.own = std::vector<CopyReport>{{"shop", CopyState::kStopping, 0.2},
                                      {"blog", CopyState::kServing, 0.7}};
  input.draining = {"c"};
  return input;
}

TEST_CASE("round view: workers, free slots, draining, copies and loads", "[unit]") {
  const RoundView view = BuildRoundView(Example());
  // Workers in name order; the balancer is none; free = capacity less what each runs.
  REQUIRE(view.workers.size() == 3);
  CHECK(view.workers[0].name == "a");
  CHECK(view.workers[0].free_slots == 1);  // 4 less 3 copies (one of an unknown site)
  CHECK(view.workers[0].eligible);
  CHECK(view.workers[1].name == "b");
  CHECK(view.workers[1].free_slots == 1);  // 3 less its own 2, not its report's 1
  CHECK(view.workers[2].name == "c");
  CHECK(view.workers[2].free_slots == 1);
  CHECK_FALSE(view.workers[2].eligible);  // draining
  // Sites in name order, with their desired counts and settings.
  REQUIRE(view.sites.size() == 2);
  const SiteView& blog = view.sites[0];
  const SiteView& shop = view.sites[1];
  CHECK(blog.name == "blog");
  CHECK(blog.up == 3);
  CHECK(blog.down == 0.5);
  CHECK(shop.desired == 2);
  // Copies on workers only; b's from its own list.
  REQUIRE(shop.copies.size() == 3);
  CHECK(shop.copies[0].node == "a");
  CHECK(shop.copies[1].node == "b");
  CHECK(shop.copies[1].state == CopyState::kStopping);
  CHECK(shop.copies[2].node == "c");
  REQUIRE(blog.copies.size() == 2);
  CHECK(blog.copies[1].state == CopyState::kServing);
  // Loads of serving copies only.
  CHECK(shop.loads == std::vector<double>{1.5, 2.5});
  CHECK(blog.loads == std::vector<double>{0.7});
}

TEST_CASE("round view: without its own list, a node's report stands for it", "[unit]") {
  RoundInput input = Example();
  input.own.reset();
  const RoundView view = BuildRoundView(input);
  CHECK(view.workers[1].free_slots == 2);
  CHECK(view.sites[1].copies[1].state == CopyState::kStarting);
  CHECK(view.sites[0].copies.size() == 1);  // b's blog copy is not in its report
}

TEST_CASE("round view: the same whatever order sites and members come in", "[unit]") {
  const RoundView expected = BuildRoundView(Example());
  RoundInput input = Example();
  std::sort(input.members.begin(), input.members.end(),
            [](const auto& x, const auto& y) { return x.name < y.name; });
  do {
    std::reverse(input.sites.begin(), input.sites.end());
    const RoundView view = BuildRoundView(input);
    REQUIRE(view.workers.size() == expected.workers.size());
    for (size_t i = 0; i < view.workers.size(); ++i) {
      CHECK(view.workers[i].name == expected.workers[i].name);
      CHECK(view.workers[i].free_slots == expected.workers[i].free_slots);
      CHECK(view.workers[i].eligible == expected.workers[i].eligible);
    }
    REQUIRE(view.sites.size() == expected.sites.size());
    for (size_t s = 0; s < view.sites.size(); ++s) {
      CHECK(view.sites[s].name == expected.sites[s].name);
      CHECK(view.sites[s].loads == expected.sites[s].loads);
      REQUIRE(view.sites[s].copies.size() == expected.sites[s].copies.size());
      for (size_t c = 0; c < view.sites[s].copies.size(); ++c) {
        CHECK(view.sites[s].copies[c].node == expected.sites[s].copies[c].node);
        CHECK(view.sites[s].copies[c].state == expected.sites[s].copies[c].state);
      }
    }
  } while (std::next_permutation(input.members.begin(), input.members.end(),
                                 [](const auto& x, const auto& y) { return x.name < y.name; }));
}

}  // namespace
}  // namespace starling::rules
