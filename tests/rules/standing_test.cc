// Whether a node may act on the copy rules (rules::WhyNotDecide): not before it has heard a peer,
// not when it sees fewer than half of the workers it knows, always when configured alone.
#include "src/rules/standing.h"

#include <catch2/catch.hpp>

namespace starling::rules {
namespace {

TEST_CASE("a node alone or cut off from most workers decides nothing", "[unit]") {
  struct Row {
    Standing standing;
    bool decides;
    const char* why;  // a part of the reason given, when it does not decide
  };
  const Row rows[] = {
      // Just restarted: it sees only itself and has heard no one.
      {{.exchanged = false, .live_workers = 1, .known_workers = 1}, false, "not exchanged state"},
      // Joined but not yet exchanged state: still waits.
      {{.exchanged = false, .live_workers = 5, .known_workers = 5}, false, "single_node"},
      {{.exchanged = true, .live_workers = 5, .known_workers = 5}, true, ""},
      // Half is enough (a 2-node cluster with one dead keeps serving), fewer is not.
      {{.exchanged = true, .live_workers = 1, .known_workers = 2}, true, ""},
      {{.exchanged = true, .live_workers = 2, .known_workers = 5}, false, "2 of the 5 workers"},
      {{.exchanged = true, .live_workers = 3, .known_workers = 5}, true, ""},
      // A live worker whose load report has not arrived: it would look empty.
      {{.exchanged = true, .live_workers = 2, .known_workers = 3, .reports_missing = 1},
       false,
       "load report of 1 live worker"},
      // Configured alone: decides from the start.
      {{.single_node = true, .exchanged = false, .live_workers = 1, .known_workers = 1}, true, ""},
  };
  for (const Row& row : rows) {
    INFO("exchanged " << row.standing.exchanged << ", " << row.standing.live_workers << " of "
                      << row.standing.known_workers);
    const std::string why = WhyNotDecide(row.standing);
    CHECK(why.empty() == row.decides);
    CHECK(why.find(row.why) != std::string::npos);
  }
}

}  // namespace
}  // namespace starling::rules
