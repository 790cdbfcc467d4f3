// src/db/grastate.h — a stopped Galera member's last committed position, as its data dir keeps
// it (grastate.dat) or as `mariadbd --wsrep-recover` finds it after a crash (grastate's seqno is
// -1 then). The bootstrap rule (src/rules/db_cluster.h) compares these positions. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace starling::db {

struct Position {
  std::string uuid;    // the cluster state UUID; empty for a data dir with no history
  int64_t seqno = -1;  // -1: unknown (a crash) or none
  bool operator==(const Position&) const = default;
};

struct GraState {
  Position position;
  bool safe_to_bootstrap = false;
};

// grastate.dat's fields. kCorruption for a file that is not one.
Result<GraState> ParseGraState(std::string_view text);

// grastate.dat with safe_to_bootstrap set to 1: what the one node the bootstrap rule chose
// writes before it forms the new Primary component (Galera refuses otherwise after a crash of
// every member). REQUIRES: `text` parses.
std::string MarkSafeToBootstrap(std::string_view text);

// The last "WSREP: Recovered position: <uuid>:<seqno>" in `log` (what --wsrep-recover
// prints); nothing when there is none.
std::optional<Position> RecoveredPosition(std::string_view log);

}  // namespace starling::db
