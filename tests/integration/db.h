// tests/integration/db.h — what the [integration][db] tests share: an agent's database member
// as its API shows it, the cluster all Synced, root's connection to a member's server, and the
// rows a member holds.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "src/db/connection.h"
#include "tests/integration/cluster.h"

namespace starling::testing {

// The agent's view of its member (GET /v1/db), or null.
inline json DbMember(const Cluster::Agent& agent) {
  auto answer = Cluster::Api(agent, "GET", "/v1/db", "{}", 3);
  return answer && answer->first == 200 ? answer->second.value("member", json()) : json();
}

// Every agent's member is Synced in a cluster of `size`, all with one history: its UUID; empty
// otherwise.
inline std::string AllSynced(const std::vector<Cluster::Agent>& agents, size_t size) {
  std::string uuid;
  for (const auto& agent : agents) {
    const json member = DbMember(agent);
    if (member.is_null() || member.value("state", "") != "synced" ||
        member.value("cluster_size", 0u) != size) {
      return "";
    }
    if (!uuid.empty() && member["uuid"] != uuid) return "";
    uuid = member["uuid"];
  }
  return uuid;
}

// AllSynced(agents, size) within `deadline` (and with history `uuid` when given): the history's
// UUID. If not, says what each agent's member reports, the end of its server's error log and of
// the agent's log (so a CI failure shows why), and returns "".
inline std::string WaitAllSynced(const Cluster& cluster, const std::vector<Cluster::Agent>& agents,
                                 size_t size, std::chrono::seconds deadline,
                                 const std::string& uuid = "") {
  std::string found;
  if (WaitFor(deadline, [&] {
        found = AllSynced(agents, size);
        return !found.empty() && (uuid.empty() || found == uuid);
      })) {
    return found;
  }
  for (const auto& agent : agents) {
    WARN(agent.name << "'s member: " << DbMember(agent).dump() << "\nits mariadb.err ends:\n"
                    << Cluster::Tail(cluster.dir() / agent.name / "mariadb" / "run" / "mariadb.err",
                                     12)
                    << "\nits log ends:\n"
                    << Cluster::Tail(agent.log, 12));
  }
  return "";
}

// Root's connection to an agent's mariadbd over its unix socket.
inline std::unique_ptr<db::Connection> RootConnection(const Cluster& cluster,
                                                      const Cluster::Agent& agent) {
  auto opened = db::Connection::Open(
      {.socket = (cluster.dir() / agent.name / "mariadb" / "run" / "mariadb.sock").string(),
       .timeout_s = 10});
  INFO(opened.status().ToString());
  REQUIRE(opened.ok());
  return std::move(*opened);
}

// The rows of `table` as one member sees them, after waiting for what the cluster committed.
inline size_t Rows(const Cluster& cluster, const Cluster::Agent& agent, const std::string& table) {
  auto connection = RootConnection(cluster, agent);
  REQUIRE(connection->Execute("SET SESSION wsrep_sync_wait = 1").ok());
  auto rows = connection->Query("SELECT COUNT(*) FROM " + table);
  INFO(rows.status().ToString());
  REQUIRE(rows.ok());
  return std::stoul(*(*rows)[0][0]);
}

}  // namespace starling::testing
