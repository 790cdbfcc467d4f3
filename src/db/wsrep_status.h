// src/db/wsrep_status.h — what a running mariadbd says of its Galera membership (its wsrep_%
// status variables), read into the state the rules use (src/rules/db_cluster.h). Pure.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "src/rules/db_cluster.h"

namespace starling::db {

struct WsrepStatus {
  rules::DbState state = rules::DbState::kUnknown;
  bool ready = false;              // wsrep_ready: takes queries
  std::string cluster_status;      // wsrep_cluster_status: Primary, non-Primary, Disconnected
  uint32_t cluster_size = 0;       // wsrep_cluster_size
  std::string uuid;                // wsrep_cluster_state_uuid
  int64_t last_committed = -1;     // wsrep_last_committed
  double flow_control_paused = 0;  // wsrep_flow_control_paused: share of time paused
};

// The status from SHOW GLOBAL STATUS LIKE 'wsrep_%' rows (name → value). Synced takes all of
// wsrep_ready = ON, wsrep_cluster_status = Primary and wsrep_local_state = 4; in a Primary
// component, local states 1-3 are joining and 2 donor; outside one, non-primary.
WsrepStatus ReadWsrepStatus(const std::map<std::string, std::string>& variables);

// The query that gives ReadWsrepStatus its rows.
inline constexpr char kWsrepStatusQuery[] = "SHOW GLOBAL STATUS LIKE 'wsrep\\_%'";

}  // namespace starling::db
