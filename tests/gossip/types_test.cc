// [unit] tests of the membership vocabulary: names and the shared member profiles.
#include "gossip/types.h"

#include <catch2/catch.hpp>

namespace starling::gossip {
namespace {

TEST_CASE("the profile pool hands out one profile per distinct set of facts", "[unit]") {
  ProfilePool pool;
  const NodeMeta meta{Role::kWorker, 4, "10.0.0.1:8080", "1.0"};
  ProfileRef a = pool.Intern("node-1", {"10.0.0.1", 7946}, meta);
  ProfileRef b = pool.Intern("node-1", {"10.0.0.1", 7946}, meta);
  CHECK(a == b);
  CHECK(a->name == "node-1");
  CHECK(a->address.port == 7946);
  CHECK(a->meta == meta);

  // Any differing field gives another profile, even where a plain concatenation would collide.
  CHECK(pool.Intern("node-1", {"10.0.0.17", 946}, meta) != a);
  CHECK(pool.Intern("node-2", {"10.0.0.1", 7946}, meta) != a);
  NodeMeta other = meta;
  other.capacity = 5;
  CHECK(pool.Intern("node-1", {"10.0.0.1", 7946}, other) != a);
  other = meta;
  other.version = std::string("1.0\0x", 5);
  CHECK(pool.Intern("node-1", {"10.0.0.1", 7946}, other) != a);
}

TEST_CASE("the profile pool forgets profiles nobody holds", "[unit]") {
  ProfilePool pool;
  const NodeMeta meta{Role::kWorker, 1, "", ""};
  ProfileRef kept = pool.Intern("kept", {"10.0.0.1", 1}, meta);
  for (int i = 0; i < 1000; ++i) {
    (void)pool.Intern("node-" + std::to_string(i), {"10.0.0.2", 1}, meta);
  }
  CHECK(pool.size() < 200);  // swept as it grew: only the recent and the held remain
  CHECK(pool.Intern("kept", {"10.0.0.1", 1}, meta) == kept);
}

TEST_CASE("node names are 1-64 characters of [A-Za-z0-9._-]", "[unit]") {
  CHECK(IsValidName("node-1.rack_2"));
  CHECK(IsValidName(std::string(64, 'a')));
  CHECK_FALSE(IsValidName(""));
  CHECK_FALSE(IsValidName(std::string(65, 'a')));
  CHECK_FALSE(IsValidName("node 1"));
  CHECK_FALSE(IsValidName("node/1"));
}

}  // namespace
}  // namespace starling::gossip
