#include "gossip/broadcast_queue.h"

#include <catch2/catch.hpp>

namespace starling::gossip {
namespace {

TEST_CASE("broadcasts go out fewest-transmits first, newest first among equals", "[unit]") {
  BroadcastQueue queue(100);
  queue.Queue("a", "AAAA");
  queue.Queue("b", "BBBB");
  // Room for one item of 4 bytes + 2 bytes of prefix.
  auto first = queue.Take(6, 2, 3);
  REQUIRE(first == std::vector<std::string>{"BBBB"});
  auto second = queue.Take(6, 2, 3);
  REQUIRE(second == std::vector<std::string>{"AAAA"});  // fewer transmits now
  auto both = queue.Take(100, 2, 3);
  CHECK(both.size() == 2);
}

TEST_CASE("an item is dropped after its transmit limit", "[unit]") {
  BroadcastQueue queue(100);
  queue.Queue("a", "x");
  for (int i = 0; i < 3; ++i) CHECK(queue.Take(100, 2, 3).size() == 1);
  CHECK(queue.empty());
  CHECK(queue.Transmits("a") == -1);
  CHECK(queue.Take(100, 2, 3).empty());
}

TEST_CASE("a newer item under the same key replaces the older", "[unit]") {
  BroadcastQueue queue(100);
  queue.Queue("node-1", "suspect");
  CHECK(queue.Take(100, 2, 5).size() == 1);
  CHECK(queue.Transmits("node-1") == 1);
  queue.Queue("node-1", "alive");
  CHECK(queue.size() == 1);
  CHECK(queue.Transmits("node-1") == 0);
  CHECK(queue.Take(100, 2, 5) == std::vector<std::string>{"alive"});
}

TEST_CASE("the queue is bounded, dropping the most-sent items", "[unit]") {
  BroadcastQueue queue(3);
  queue.Queue("a", "1");
  queue.Take(100, 2, 10);  // "a" has 1 transmit
  queue.Queue("b", "2");
  queue.Queue("c", "3");
  queue.Queue("d", "4");
  CHECK(queue.size() == 3);
  CHECK(queue.Transmits("a") == -1);
  CHECK(queue.Transmits("d") == 0);
}

TEST_CASE("items that do not fit are skipped for smaller ones", "[unit]") {
  BroadcastQueue queue(10);
  queue.Queue("small", "s");
  queue.Queue("big", std::string(50, 'b'));
  auto taken = queue.Take(10, 2, 5);
  CHECK(taken == std::vector<std::string>{"s"});
  CHECK(queue.Transmits("big") == 0);
}

}  // namespace
}  // namespace starling::gossip
