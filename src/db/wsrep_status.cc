#include "src/db/wsrep_status.h"

#include <charconv>

namespace starling::db {
namespace {

template <typename T>
T Number(const std::map<std::string, std::string>& variables, const std::string& name, T fallback) {
  auto it = variables.find(name);
  if (it == variables.end()) return fallback;
  T value{};
  const auto [end, error] =
      std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
  return error == std::errc() && end == it->second.data() + it->second.size() ? value : fallback;
}

std::string Text(const std::map<std::string, std::string>& variables, const std::string& name) {
  auto it = variables.find(name);
  return it == variables.end() ? std::string() : it->second;
}

}  // namespace

WsrepStatus ReadWsrepStatus(const std::map<std::string, std::string>& variables) {
  WsrepStatus status;
  status.ready = Text(variables, "wsrep_ready") == "ON";
  status.cluster_status = Text(variables, "wsrep_cluster_status");
  status.cluster_size = Number<uint32_t>(variables, "wsrep_cluster_size", 0);
  status.uuid = Text(variables, "wsrep_cluster_state_uuid");
  status.last_committed = Number<int64_t>(variables, "wsrep_last_committed", -1);
  status.flow_control_paused = Number<double>(variables, "wsrep_flow_control_paused", 0);
  const int local_state = Number<int>(variables, "wsrep_local_state", 0);
  if (status.cluster_status != "Primary") {
    status.state = variables.empty() ? rules::DbState::kUnknown : rules::DbState::kNonPrimary;
  } else if (local_state == 4 && status.ready) {
    status.state = rules::DbState::kSynced;
  } else if (local_state == 2) {
    status.state = rules::DbState::kDonor;
  } else {
    status.state = rules::DbState::kJoining;  // 1 joining, 3 joined (catching up), 4 not ready
  }
  return status;
}

}  // namespace starling::db
