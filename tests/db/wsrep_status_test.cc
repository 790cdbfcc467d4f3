// [unit] a mariadbd's wsrep_% status read into the rules' states (src/db/wsrep_status.h).
#include "src/db/wsrep_status.h"

#include <catch2/catch.hpp>

namespace starling::db {
namespace {

using rules::DbState;

TEST_CASE("wsrep status: the states the rules see", "[unit]") {
  struct Case {
    std::map<std::string, std::string> variables;
    DbState state;
  };
  const std::vector<Case> cases = {
      {{{"wsrep_ready", "ON"}, {"wsrep_cluster_status", "Primary"}, {"wsrep_local_state", "4"}},
       DbState::kSynced},
      // Synced but not ready (e.g. wsrep_reject_queries): not a writer.
      {{{"wsrep_ready", "OFF"}, {"wsrep_cluster_status", "Primary"}, {"wsrep_local_state", "4"}},
       DbState::kJoining},
      {{{"wsrep_ready", "ON"}, {"wsrep_cluster_status", "Primary"}, {"wsrep_local_state", "2"}},
       DbState::kDonor},
      {{{"wsrep_ready", "OFF"}, {"wsrep_cluster_status", "Primary"}, {"wsrep_local_state", "1"}},
       DbState::kJoining},
      {{{"wsrep_ready", "ON"}, {"wsrep_cluster_status", "Primary"}, {"wsrep_local_state", "3"}},
       DbState::kJoining},
      {{{"wsrep_ready", "OFF"},
        {"wsrep_cluster_status", "non-Primary"},
        {"wsrep_local_state", "4"}},
       DbState::kNonPrimary},
      {{{"wsrep_ready", "OFF"}, {"wsrep_cluster_status", "Disconnected"}}, DbState::kNonPrimary},
      {{}, DbState::kUnknown},
  };
  for (const auto& c : cases) {
    CHECK(ReadWsrepStatus(c.variables).state == c.state);
  }
}

TEST_CASE("wsrep status: numbers, and junk where numbers belong", "[unit]") {
  const WsrepStatus status = ReadWsrepStatus({{"wsrep_cluster_size", "3"},
                                              {"wsrep_last_committed", "1234"},
                                              {"wsrep_flow_control_paused", "0.25"},
                                              {"wsrep_cluster_state_uuid", "abc-def"},
                                              {"wsrep_cluster_status", "Primary"}});
  CHECK(status.cluster_size == 3);
  CHECK(status.last_committed == 1234);
  CHECK(status.flow_control_paused == 0.25);
  CHECK(status.uuid == "abc-def");
  const WsrepStatus junk = ReadWsrepStatus(
      {{"wsrep_cluster_size", "3x"}, {"wsrep_last_committed", ""}, {"wsrep_local_state", "z"}});
  CHECK(junk.cluster_size == 0);
  CHECK(junk.last_committed == -1);
  CHECK(junk.state == DbState::kNonPrimary);
}

}  // namespace
}  // namespace starling::db
