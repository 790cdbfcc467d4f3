// [integration] the database cluster (issue 17, DESIGN.md §10): three agents with the db role on
// loopback run real mariadbd + Galera members. They form the cluster by themselves; a row written
// on one is on all; a site with a database gets its schema and user, and a process in its copy
// (runc, behind the copies' firewall) writes through its node's endpoint; the writer's machine
// dies under a stream of acknowledged inserts and none is lost; after every agent and
// every mariadbd is killed at once (a power cut) they form it again by themselves, with every row
// and the same history; a node whose database files are wiped rejoins by a full state transfer.
// Through the CLI: a site's database dumped and imported (all or nothing), kept when its site is
// deleted, dropped when asked; a db node gone for good forgotten, so that the others' cold start
// no longer waits for it.
#include "tests/integration/db.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
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

// Shell-quoted CLI of the cluster's first agent (its key file is in the environment).
std::string Cli(Cluster& cluster) {
  return fmt::format("{} --api 127.0.0.1:{} ", STARLING_BINARY, cluster.agents()[0].api_port);
}

// The rows of `sql` on `agent`'s member, after what the cluster committed, as "a,b;c,d".
std::string Show(const Cluster& cluster, const Cluster::Agent& agent, const std::string& sql) {
  auto connection = RootConnection(cluster, agent);
  REQUIRE(connection->Execute("SET SESSION wsrep_sync_wait = 1").ok());
  auto rows = connection->Query(sql);
  INFO(sql << ": " << rows.status().ToString());
  REQUIRE(rows.ok());
  std::string text;
  for (const auto& row : *rows) {
    if (!text.empty()) text += ";";
    for (size_t i = 0; i < row.size(); ++i) text += (i ? "," : "") + row[i].value_or("NULL");
  }
  return text;
}

// `site`'s database dumped and imported through the CLI, as an operator would: a dump is whole
// and imports back; a dump that does not apply, one that names a database and one with a table
// Galera would not replicate change nothing and leave no staging schema; a good import is on
// every member.
void DumpAndImport(Cluster& cluster, const std::string& site) {
  const auto& agents = cluster.agents();
  const std::string cli = Cli(cluster);
  const fs::path dump = cluster.dir() / "shop.sql";
  const std::string dumped = RunCommand(cli + "db dump " + site + " -o " + dump.string() + " 2>&1");
  INFO(dumped);
  REQUIRE(fs::exists(dump));
  const std::string text = Cluster::ReadAll(dump.string());
  CHECK_THAT(text, Catch::Contains("CREATE TABLE `visits`"));
  CHECK_THAT(text, Catch::Contains("-- Dump completed"));
  CHECK_FALSE(fs::exists(dump.string() + ".partial"));
  // On stdout too, the same tables.
  const std::string streamed = RunCommand(cli + "db dump " + site);
  CHECK_THAT(streamed, Catch::Contains("INSERT INTO `visits`"));

  const std::string visits = "SELECT COUNT(*) FROM shop.visits";
  const std::string before = Show(cluster, agents[1], visits);
  const std::string staging =
      "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE "
      "SCHEMA_NAME = 'shop$import'";
  auto import = [&](const std::string& name, const std::string& sql) {
    const fs::path file = cluster.dir() / name;
    std::ofstream(file) << sql;
    return RunCommand(cli + "db import " + site + " < " + file.string() + " 2>&1; echo exit=$?");
  };
  // A dump cut in the middle of a statement, after a table it made: nothing of it lands.
  const std::string broken =
      import("broken.sql",
             "CREATE TABLE extra (id INT PRIMARY KEY);\nINSERT INTO visits (who) "
             "VALUES ('x');\nINSERT INTO extra VALUES (1), (2");
  CHECK_THAT(broken, Catch::Contains("does not apply") && Catch::Contains("unchanged") &&
                         Catch::Contains("exit=2"));
  const std::string named = import("named.sql", "USE mysql;\nCREATE TABLE x (id INT);\n");
  CHECK_THAT(named, Catch::Contains("names a database") && Catch::Contains("exit=2"));
  const std::string myisam =
      import("myisam.sql", "CREATE TABLE extra (id INT PRIMARY KEY) ENGINE=MyISAM;\n");
  CHECK_THAT(myisam, Catch::Contains("only InnoDB") && Catch::Contains("exit=2"));
  for (const auto& agent : agents) {
    CHECK(Show(cluster, agent, visits) == before);
    CHECK(Show(cluster, agent, staging) == "0");
    CHECK(Show(cluster, agent,
               "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'extra'") == "0");
  }

  // A good one, from a pipe: its table is on every member; the site's others are untouched.
  const std::string piped = RunCommand(
      "printf 'CREATE TABLE extra (id INT PRIMARY KEY);\\nINSERT INTO extra VALUES (1), (2);\\n' "
      "| " +
      cli + "db import " + site + " 2>&1; echo exit=$?");
  CHECK_THAT(piped,
             Catch::Contains("1 table(s), 0 of them replacing") && Catch::Contains("exit=0"));
  // The first dump back, after a row more: visits is the dump's again (replaced whole).
  {
    auto root = RootConnection(cluster, agents[0]);
    REQUIRE(root->Execute("INSERT INTO shop.visits (who) VALUES ('later')").ok());
  }
  const std::string back =
      RunCommand(cli + "db import " + site + " " + dump.string() + " 2>&1; echo exit=$?");
  CHECK_THAT(back, Catch::Contains("1 of them replacing") && Catch::Contains("exit=0"));
  for (const auto& agent : agents) {
    CHECK(Show(cluster, agent, "SELECT id FROM shop.extra ORDER BY id") == "1;2");
    CHECK(Show(cluster, agent, visits) == before);
    CHECK(Show(cluster, agent, staging) == "0");
  }
}

// Deleting a site keeps its database unless asked: `shop` deleted, its dump still works;
// `scratch` deleted with --drop-database, its schema and user go from every member.
void DeleteSites(Cluster& cluster) {
  const auto& agents = cluster.agents();
  const std::string cli = Cli(cluster);
  const std::string made = RunCommand(
      cli + "site create scratch --domain scratch.example.com --database --ack all-live 2>&1");
  INFO(made);
  REQUIRE(WaitFor(std::chrono::seconds(30), [&] {
    auto settings = Cluster::Api(agents[0], "GET", "/v1/db/sites/scratch");
    return settings && settings->first == 200 &&
           Show(cluster, agents[2], "SELECT COUNT(*) FROM mysql.user WHERE User = 'scratch'") ==
               "1";
  }));
  const std::string dropped =
      RunCommand(cli + "site delete scratch --drop-database --ack all-live 2>&1");
  CHECK_THAT(dropped, Catch::Contains("dropped by the writer's node"));
  const bool gone = WaitFor(std::chrono::seconds(30), [&] {
    for (const auto& agent : agents) {
      if (Show(cluster, agent,
               "SELECT (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = "
               "'scratch') + (SELECT COUNT(*) FROM mysql.user WHERE User = 'scratch')") != "0") {
        return false;
      }
    }
    return true;
  });
  CHECK(gone);
  CHECK_THAT(RunCommand(cli + "db dump scratch 2>&1; echo exit=$?"),
             Catch::Contains("no database kept") && Catch::Contains("exit=3"));

  const std::string kept = RunCommand(cli + "site delete shop --ack all-live 2>&1");
  CHECK_THAT(kept, Catch::Contains("its database is kept"));
  CHECK_THAT(RunCommand(cli + "db dump shop"), Catch::Contains("CREATE TABLE `visits`"));
  for (const auto& agent : agents) {
    CHECK(Show(cluster, agent, "SELECT COUNT(*) FROM shop.visits") != "0");
  }
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
  REQUIRE(!(uuid = WaitAllSynced(cluster, agents, 3, std::chrono::seconds(120))).empty());

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
  DumpAndImport(cluster, "shop");

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
    REQUIRE(WaitAllSynced(cluster, agents, 3, std::chrono::seconds(120), uuid) == uuid);
  }

  // A power cut: every agent and every mariadbd killed at once. They come back in another order
  // and form the same cluster again, with every acknowledged row.
  for (auto& agent : agents) {
    Cluster::Kill(agent, SIGKILL);
    cluster.KillDatabase(agent, SIGKILL);
  }
  for (int i = 2; i >= 0; --i) cluster.Start(agents[static_cast<size_t>(i)]);
  std::string again;
  REQUIRE(!(again = WaitAllSynced(cluster, agents, 3, std::chrono::seconds(120))).empty());
  CHECK(again == uuid);  // the same history, not a new cluster
  for (const auto& agent : agents) CHECK(Rows(cluster, agent, "t.x") == written);

  // A node's database files wiped (a replaced disk): it rejoins by a full state transfer.
  Cluster::Kill(agents[2], SIGTERM);  // the agent ends its mariadbd on the way out
  const fs::path wiped = cluster.dir() / agents[2].name / "mariadb" / "data";
  fs::remove_all(wiped);
  cluster.Start(agents[2]);
  REQUIRE(WaitAllSynced(cluster, agents, 3, std::chrono::seconds(120), uuid) == uuid);
  CHECK(Rows(cluster, agents[2], "t.x") == written);
  const std::string log = Cluster::ReadAll(
      (cluster.dir() / agents[2].name / "mariadb" / "run" / "mariadb.err").string());
  CHECK_THAT(log, Catch::Contains("SST received") || Catch::Contains("SST succeeded"));

  DeleteSites(cluster);

  // A db node gone for good: not forgotten while it runs; once stopped, forgotten, and a power
  // cut of the other two forms the cluster again without it (the rule no longer waits for it).
  const std::string cli = Cli(cluster);
  CHECK_THAT(RunCommand(cli + "db forget db-3 2>&1; echo exit=$?"),
             Catch::Contains("is alive") && Catch::Contains("exit=4"));
  CHECK_THAT(RunCommand(cli + "db forget db-9 2>&1; echo exit=$?"),
             Catch::Contains("no db node 'db-9'") && Catch::Contains("exit=3"));
  Cluster::Kill(agents[2], SIGTERM);  // it leaves; its mariadbd ends with it
  std::string forgot;
  REQUIRE(WaitFor(std::chrono::seconds(30), [&] {
    forgot = RunCommand(cli + "db forget db-3 --ack all-live 2>&1; echo exit=$?");
    return forgot.find("exit=0") != std::string::npos;
  }));
  CHECK_THAT(forgot, Catch::Contains("forgotten"));
  for (size_t i = 0; i < 2; ++i) {
    Cluster::Kill(agents[i], SIGKILL);
    cluster.KillDatabase(agents[i], SIGKILL);
  }
  for (int i = 1; i >= 0; --i) cluster.Start(agents[static_cast<size_t>(i)]);
  const std::vector<Cluster::Agent> pair(agents.begin(), agents.begin() + 2);
  REQUIRE(WaitAllSynced(cluster, pair, 2, std::chrono::seconds(120), uuid) == uuid);
  for (const auto& agent : pair) CHECK(Rows(cluster, agent, "t.x") == written);
}

}  // namespace
