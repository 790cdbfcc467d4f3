#include "gossip/awareness.h"

#include <catch2/catch.hpp>

namespace starling::gossip {
namespace {

TEST_CASE("local health stretches timeouts and stays within its bounds", "[unit]") {
  Awareness awareness(8);
  CHECK(awareness.Scale(Milliseconds(500)) == Milliseconds(500));
  awareness.ApplyDelta(3);  // three missed nacks
  CHECK(awareness.score() == 3);
  CHECK(awareness.Scale(Milliseconds(500)) == Milliseconds(2000));
  awareness.ApplyDelta(100);
  CHECK(awareness.score() == 7);  // max multiplier 8 = score 7
  awareness.ApplyDelta(-100);
  CHECK(awareness.score() == 0);
}

}  // namespace
}  // namespace starling::gossip
