#include "gossip/suspicion.h"

#include <catch2/catch.hpp>

namespace starling::gossip {
namespace {

TEST_CASE("suspicion timeout falls logarithmically with confirmations", "[unit]") {
  const Duration min = Seconds(2), max = Seconds(30);
  // Lifeguard: max - (max-min) * log(c+1)/log(k+1), whole milliseconds, never below min.
  struct Row {
    int confirmations, expected;
    int64_t want_ms;
  };
  const Row rows[] = {
      {0, 3, 30000}, {1, 3, 16000}, {2, 3, 7810}, {3, 3, 2000}, {5, 3, 2000}, {0, 0, 2000},
  };
  for (const auto& row : rows) {
    INFO("c=" << row.confirmations << " k=" << row.expected);
    CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(
              Suspicion::Timeout(row.confirmations, row.expected, min, max))
              .count() == row.want_ms);
  }
}

TEST_CASE("only new, independent confirmations count", "[unit]") {
  const Instant start{Seconds(100)};
  Suspicion suspicion("a", 2, Seconds(1), Seconds(6), start);
  CHECK(suspicion.Deadline() == start + Seconds(6));
  CHECK_FALSE(suspicion.Confirm("a"));  // the originator
  CHECK(suspicion.Confirm("b"));
  CHECK_FALSE(suspicion.Confirm("b"));  // a repeat
  const Instant after_one = suspicion.Deadline();
  CHECK(after_one < start + Seconds(6));
  CHECK(suspicion.Confirm("c"));
  CHECK(suspicion.Deadline() == start + Seconds(1));
  CHECK_FALSE(suspicion.Confirm("d"));  // beyond k: no news
}

TEST_CASE("without expected confirmations the timeout is the minimum", "[unit]") {
  const Instant start{Seconds(1)};
  Suspicion suspicion("a", 0, Seconds(3), Seconds(18), start);
  CHECK(suspicion.Deadline() == start + Seconds(3));
  CHECK_FALSE(suspicion.Confirm("b"));
}

TEST_CASE("a stronger signal shortens the deadline but never lengthens it", "[unit]") {
  const Instant start{Seconds(1)};
  Suspicion suspicion("a", 2, Seconds(3), Seconds(18), start);
  suspicion.Shorten(start + Seconds(1));
  CHECK(suspicion.Deadline() == start + Seconds(1));
  suspicion.Shorten(start + Seconds(10));
  CHECK(suspicion.Deadline() == start + Seconds(1));
}

}  // namespace
}  // namespace starling::gossip
