// [integration] the database cluster (issue 17, DESIGN.md §10): three agents with the db role on
// loopback run real mariadbd + Galera members. They form the cluster by themselves; a row written
// on one is on all; a site with a database gets its schema and user, and a process in its copy
// (runc, behind the copies' firewall) writes through its node's endpoint; the writer's machine
// dies under a stream of acknowledged inserts and none is lost; after every agent and
// every mariadbd is killed at once (a power cut) they form it again by themselves, with every row
// and the same history; a node whose database files are wiped rejoins by a full state transfer.
#include "tests/integration/db.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "src/db/connection.h"
#include "src/process/run.h"
#include "tests/integration/cluster.h"
#include "tests/integration/sites.h"

namespace {

using namespace starling::testing;
using starling::db::Connection;

// A db node's TOML: the db role, its four ports, small memory, and its endpoint. Agents share
// this host, and each one's copies' firewall lets copies reach the endpoint's port alone: the
// endpoints share a port, each on a loopback address of its own.
std::string DbExtra(int index, uint16_t endpoint_port) {
  return fmt::format(
      "roles = [\"worker\", \"db\"]\n[db]\nport = {}\ngalera_port = {}\nist_port = {}\n"
      "sst_port = {}\nbuffer_pool_mb = 32\ngcache_mb = 32\nendpoint = \"127.0.0.{}:{}\"\n",
      FreePort(), FreePort(), FreePort(), FreePort(), index + 1, endpoint_port);
}

TEST_CASE(
    "databases: three db nodes form a Galera cluster by themselves; a copy writes through its "
    "endpoint; no acknowledged row is lost when the writer's machine dies or in a power cut; a "
    "wiped node rejoins by state transfer",
    "[integration][db]") {
  REQUIRE(::geteuid() == 0);
  REQUIRE(fs::exists("/usr/lib/galera/libgalera_smm.so"));  // scripts/bootstrap installs it
  Cluster cluster;
  const uint16_t endpoint_port = FreePort();
  for (int i = 1; i <= 3; ++i)
    cluster.Add("db-" + std::to_string(i), {}, DbExtra(i, endpoint_port));
  for (auto& agent : cluster.agents()) cluster.Start(agent);
  auto& agents = cluster.agents();
  std::string uuid;
  REQUIRE(
      WaitFor(std::chrono::seconds(120), [&] { return !(uuid = AllSynced(agents, 3)).empty(); }));

  // Rows written on every node are on every node.
  {
    auto first = RootConnection(cluster, agents[0]);
    REQUIRE(first->Execute("CREATE DATABASE t").ok());
    REQUIRE(first->Execute("CREATE TABLE t.x (id INT AUTO_INCREMENT PRIMARY KEY, v INT)").ok());
  }
  size_t written = 0;
  for (int round = 0; round < 10; ++round) {
    for (const auto& agent : agents) {
      auto connection = RootConnection(cluster, agent);
      // Galera applies others' writes after it certifies them: a client on another node waits
      // for the table the first one created (causal reads for every statement).
      REQUIRE(connection->Execute("SET SESSION wsrep_sync_wait = 15").ok());
      const starling::Status inserted =
          connection->Execute("INSERT INTO t.x (v) VALUES (" + std::to_string(round) + ")");
      INFO(inserted.ToString());
      REQUIRE(inserted.ok());
      ++written;  // acknowledged
    }
  }
  for (const auto& agent : agents) CHECK(Rows(cluster, agent, "t.x") == written);

  // A site with a database: a process inside its copy (under runc, behind the copies' firewall)
  // writes through its node's endpoint with the settings the copy was given.
  auto created = Cluster::Api(
      agents[0], "POST", "/v1/sites?ack=all-live",
      json{{"name", "shop"}, {"domains", {"shop.example.com"}}, {"database", true}}.dump());
  REQUIRE(created);
  INFO(created->second.dump());
  REQUIRE(created->first == 200);
  const fs::path tree = cluster.dir() / "db-image";
  for (const char* sub : {"bin", "www", "proc", "dev", "sys", "tmp"}) {
    fs::create_directories(tree / sub);
  }
  fs::copy_file("/bin/busybox", tree / "bin/busybox");
  fs::create_symlink("busybox", tree / "bin/sh");
  fs::copy_file(STARLING_DB_PROBE, tree / "bin/db-probe");
  const json image = {{"path", tree.string()},
                      {"command",
                       {"/bin/busybox", "sh", "-c",
                        "/bin/db-probe copy > /www/db.txt 2>&1; "
                        "exec /bin/busybox httpd -f -p 127.0.0.1:$PORT -h /www"}}};
  auto pushed = Cluster::Api(agents[0], "POST", "/v1/images/shop?ack=local", image.dump(), 60);
  REQUIRE(pushed);
  INFO(pushed->second.dump());
  REQUIRE(pushed->first == 200);
  const std::optional<std::string> said =
      ServedFile(cluster, "shop", "/db.txt", std::chrono::seconds(60));
  INFO(Events(cluster));
  REQUIRE(said);
  CHECK(*said == "ok\n");
  for (const auto& agent : agents) CHECK(Rows(cluster, agent, "shop.visits") == 1);
  // Its settings as the operator sees them; the password only when asked.
  auto settings = Cluster::Api(agents[1], "GET", "/v1/db/sites/shop");
  REQUIRE(settings);
  CHECK(settings->second["name"] == "shop");
  CHECK_FALSE(settings->second.contains("password"));

  // The writer's machine dies (its agent, mariadbd and endpoint killed) under a stream of
  // single-row inserts through another node's endpoint: every acknowledged row is on both
  // survivors, and inserts flow again through the same endpoint.
  {
    auto password = Cluster::Api(agents[0], "GET", "/v1/db/sites/shop/password");
    REQUIRE(password);
    REQUIRE(password->first == 200);
    const json creds = password->second;
    auto endpoint_state = Cluster::Api(agents[0], "GET", "/v1/db");
    REQUIRE(endpoint_state);
    const std::string writer = endpoint_state->second["endpoint"]["writer"];
    size_t victim = 0, client = 0;
    for (size_t i = 0; i < agents.size(); ++i) {
      if (agents[i].name == writer) victim = i;
    }
    client = (victim + 1) % agents.size();
    {
      auto root = RootConnection(cluster, agents[victim]);
      REQUIRE(root->Execute("CREATE TABLE shop.stream (v INT PRIMARY KEY)").ok());
    }
    std::mutex mutex;
    std::vector<int> acked;
    std::atomic<bool> stop{false};
    std::thread inserter([&] {
      std::unique_ptr<Connection> connection;
      for (int next = 1; !stop; ++next) {
        if (!connection) {
          auto opened = Connection::Open({.host = "127.0.0." + std::to_string(client + 2),
                                          .port = endpoint_port,
                                          .user = creds["user"],
                                          .password = creds["password"],
                                          .database = creds["name"],
                                          .timeout_s = 1});
          if (!opened.ok()) continue;
          connection = std::move(*opened);
        }
        if (connection->Execute("INSERT INTO stream (v) VALUES (" + std::to_string(next) + ")")
                .ok()) {
          std::lock_guard lock(mutex);
          acked.push_back(next);
        } else {
          connection.reset();  // not acknowledged: it may or may not have committed
        }
      }
    });
    auto count = [&] {
      std::lock_guard lock(mutex);
      return acked.size();
    };
    CHECK(WaitFor(std::chrono::seconds(20), [&] { return count() >= 20; }));
    Cluster::Kill(agents[victim], SIGKILL);
    cluster.KillDatabase(agents[victim], SIGKILL);
    const size_t at_kill = count();
    const bool flowing = WaitFor(std::chrono::seconds(20), [&] { return count() >= at_kill + 20; });
    stop = true;
    inserter.join();
    CHECK(flowing);
    for (size_t i = 0; i < agents.size(); ++i) {
      if (i == victim) continue;
      auto connection = RootConnection(cluster, agents[i]);
      REQUIRE(connection->Execute("SET SESSION wsrep_sync_wait = 1").ok());
      auto rows = connection->Query("SELECT v FROM shop.stream");
      REQUIRE(rows.ok());
      std::set<int> present;
      for (const auto& row : *rows) present.insert(std::stoi(*row[0]));
      size_t missing = 0;
      for (int v : acked) missing += present.contains(v) ? 0 : 1;
      INFO(agents[i].name << ": " << acked.size() << " acknowledged");
      CHECK(missing == 0);
    }
    cluster.Start(agents[victim]);
    REQUIRE(WaitFor(std::chrono::seconds(120), [&] { return AllSynced(agents, 3) == uuid; }));
  }

  // A power cut: every agent and every mariadbd killed at once. They come back in another order
  // and form the same cluster again, with every acknowledged row.
  for (auto& agent : agents) {
    Cluster::Kill(agent, SIGKILL);
    cluster.KillDatabase(agent, SIGKILL);
  }
  for (int i = 2; i >= 0; --i) cluster.Start(agents[static_cast<size_t>(i)]);
  std::string again;
  REQUIRE(
      WaitFor(std::chrono::seconds(120), [&] { return !(again = AllSynced(agents, 3)).empty(); }));
  CHECK(again == uuid);  // the same history, not a new cluster
  for (const auto& agent : agents) CHECK(Rows(cluster, agent, "t.x") == written);

  // A node's database files wiped (a replaced disk): it rejoins by a full state transfer.
  Cluster::Kill(agents[2], SIGTERM);  // the agent ends its mariadbd on the way out
  const fs::path wiped = cluster.dir() / agents[2].name / "mariadb" / "data";
  fs::remove_all(wiped);
  cluster.Start(agents[2]);
  REQUIRE(WaitFor(std::chrono::seconds(120), [&] { return AllSynced(agents, 3) == uuid; }));
  CHECK(Rows(cluster, agents[2], "t.x") == written);
  const std::string log = Cluster::ReadAll(
      (cluster.dir() / agents[2].name / "mariadb" / "run" / "mariadb.err").string());
  CHECK_THAT(log, Catch::Contains("SST received") || Catch::Contains("SST succeeded"));
}

}  // namespace
