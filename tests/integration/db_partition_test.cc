// [integration] the database cluster split (issue 17, DESIGN.md §10): three db nodes, each in a
// network namespace of its own (scripts/netlab); one loses its link. The single node falls out
// of the Primary component and refuses writes (no split brain); the pair goes on taking them;
// after the link comes back the single node rejoins and catches up by incremental state transfer,
// one history on all three.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "src/db/connection.h"
#include "tests/integration/cluster.h"
#include "tests/integration/db.h"

namespace {

using namespace starling::testing;

constexpr char kDbConfig[] =
    "roles = [\"worker\", \"db\"]\n[db]\nbuffer_pool_mb = 32\ngcache_mb = 32\n";

// What the server says of its component: "Primary", "non-Primary", ...
std::string ClusterStatus(const Cluster& cluster, const Cluster::Agent& agent) {
  auto status =
      RootConnection(cluster, agent)->QueryPairs("SHOW STATUS LIKE 'wsrep_cluster_status'");
  return status.ok() && status->contains("wsrep_cluster_status")
             ? status->at("wsrep_cluster_status")
             : "";
}

TEST_CASE(
    "databases: a db node cut off from the other two refuses writes, the pair goes on, "
    "and after the heal it catches up by incremental state transfer",
    "[integration][db]") {
  REQUIRE(::geteuid() == 0);
  REQUIRE(fs::exists("/usr/lib/galera/libgalera_smm.so"));
  REQUIRE(NetLab::Possible());
  NetLab lab("stp" + std::to_string(::getpid() % 100000), 3);
  Cluster cluster(lab.name());
  for (int i = 1; i <= 3; ++i) cluster.Add("db-" + std::to_string(i), {}, kDbConfig);
  for (auto& agent : cluster.agents()) cluster.Start(agent);
  auto& agents = cluster.agents();
  std::string uuid;
  REQUIRE(!(uuid = WaitAllSynced(cluster, agents, 3, std::chrono::seconds(120))).empty());
  {
    auto first = RootConnection(cluster, agents[0]);
    REQUIRE(first->Execute("CREATE DATABASE t").ok());
    REQUIRE(first->Execute("CREATE TABLE t.x (id INT AUTO_INCREMENT PRIMARY KEY, v INT)").ok());
    for (int i = 0; i < 10; ++i) REQUIRE(first->Execute("INSERT INTO t.x (v) VALUES (1)").ok());
  }

  // db-3 loses its link.
  REQUIRE(lab.In(3, "ip link set eth0 down") == 0);
  // The pair forms a Primary component of two and takes writes.
  REQUIRE(WaitFor(std::chrono::seconds(30), [&] {
    const json member = DbMember(agents[0]);
    return member.value("state", "") == "synced" && member.value("cluster_size", 0u) == 2;
  }));
  {
    auto first = RootConnection(cluster, agents[0]);
    for (int i = 0; i < 10; ++i) CHECK(first->Execute("INSERT INTO t.x (v) VALUES (2)").ok());
  }
  // The single node is in no Primary component and refuses them.
  REQUIRE(WaitFor(std::chrono::seconds(30),
                  [&] { return ClusterStatus(cluster, agents[2]) == "non-Primary"; }));
  CHECK_FALSE(RootConnection(cluster, agents[2])->Execute("INSERT INTO t.x (v) VALUES (3)").ok());

  // The link comes back: one history on all three, the single node caught up by IST.
  REQUIRE(lab.In(3, "ip link set eth0 up") == 0);
  REQUIRE(WaitAllSynced(cluster, agents, 3, std::chrono::seconds(120), uuid) == uuid);
  CHECK(Rows(cluster, agents[2], "t.x") == 20);
  const std::string log = Cluster::ReadAll(
      (cluster.dir() / agents[2].name / "mariadb" / "run" / "mariadb.err").string());
  CHECK_THAT(log, Catch::Contains("IST received"));
}

}  // namespace
