// [unit] a stopped Galera member's position (src/db/grastate.h): grastate.dat after a clean stop
// and after a crash, and what --wsrep-recover prints.
#include "src/db/grastate.h"

#include <catch2/catch.hpp>

namespace starling::db {
namespace {

constexpr char kClean[] =
    "# GALERA saved state\nversion: 2.1\nuuid:    e24dbeda-ecda-11f1-8bc6-aac7b1d4a644\n"
    "seqno:   1\nsafe_to_bootstrap: 1\n";
constexpr char kCrashed[] =
    "# GALERA saved state\nversion: 2.1\nuuid:    e24dbeda-ecda-11f1-8bc6-aac7b1d4a644\n"
    "seqno:   -1\nsafe_to_bootstrap: 0\n";

TEST_CASE("grastate: clean stop, crash, empty, and junk", "[unit]") {
  auto clean = ParseGraState(kClean);
  REQUIRE(clean.ok());
  CHECK(clean->position == Position{"e24dbeda-ecda-11f1-8bc6-aac7b1d4a644", 1});
  CHECK(clean->safe_to_bootstrap);
  auto crashed = ParseGraState(kCrashed);
  REQUIRE(crashed.ok());
  CHECK(crashed->position.seqno == -1);
  CHECK_FALSE(crashed->safe_to_bootstrap);
  auto empty = ParseGraState(
      "uuid: 00000000-0000-0000-0000-000000000000\nseqno: -1\nsafe_to_bootstrap: 0\n");
  REQUIRE(empty.ok());
  CHECK(empty->position == Position{"", -1});
  for (const char* junk :
       {"", "uuid: x\nseqno: 1\n", "uuid: e24dbeda-ecda-11f1-8bc6-aac7b1d4a644\n",
        "uuid: e24dbeda-ecda-11f1-8bc6-aac7b1d4a644\nseqno: 1x\n",
        "uuid: e24dbeda-ecda-11f1-8bc6-aac7b1d4a644\nseqno: -5\n", "garbage line\n"}) {
    INFO(junk);
    CHECK(ParseGraState(junk).status().code() == StatusCode::kCorruption);
  }
}

TEST_CASE("grastate: the chosen node marks itself safe to bootstrap", "[unit]") {
  const std::string marked = MarkSafeToBootstrap(kCrashed);
  auto state = ParseGraState(marked);
  REQUIRE(state.ok());
  CHECK(state->safe_to_bootstrap);
  CHECK(state->position.seqno == -1);
  CHECK(marked.find("safe_to_bootstrap: 0") == std::string::npos);
  // A file without the field gets it.
  auto added =
      ParseGraState(MarkSafeToBootstrap("uuid: e24dbeda-ecda-11f1-8bc6-aac7b1d4a644\nseqno: 4\n"));
  REQUIRE(added.ok());
  CHECK(added->safe_to_bootstrap);
}

TEST_CASE("grastate: the position --wsrep-recover found", "[unit]") {
  const std::string log =
      "2026-11-30 16:27:13 0 [Note] WSREP: Recovered position: "
      "e24dbeda-ecda-11f1-8bc6-aac7b1d4a644:5\n2026-11-30 16:27:13 0 [Warning] other\n";
  CHECK(RecoveredPosition(log) == Position{"e24dbeda-ecda-11f1-8bc6-aac7b1d4a644", 5});
  // A number with something glued to it is not read as a longer number.
  CHECK_FALSE(RecoveredPosition("WSREP: Recovered position: e24dbeda-ecda-11f1-8bc6-aac7b1d4a644:"
                                "52026-11-30")
                  .has_value());
  CHECK(RecoveredPosition("WSREP: Recovered position: e24dbeda-ecda-11f1-8bc6-aac7b1d4a644:7") ==
        Position{"e24dbeda-ecda-11f1-8bc6-aac7b1d4a644", 7});
  CHECK(RecoveredPosition("WSREP: Recovered position: 00000000-0000-0000-0000-000000000000:-1\n") ==
        Position{"", -1});
  CHECK_FALSE(RecoveredPosition("nothing here").has_value());
  CHECK_FALSE(RecoveredPosition("WSREP: Recovered position: nonsense:1").has_value());
}

}  // namespace
}  // namespace starling::db
