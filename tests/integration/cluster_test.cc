// [integration] real `starling agent` processes on loopback: join, kill -9, restart, wrong key.
// Every wait is on a condition with a deadline; processes are ended by their PID.
#include "tests/integration/cluster.h"

#include <atomic>
#include <mutex>
#include <set>

namespace {

using namespace starling::testing;

TEST_CASE("five agents join, detect a kill -9, welcome the restart, and shut out a wrong key",
          "[integration]") {
  Cluster cluster;
  for (int i = 1; i <= 5; ++i) cluster.Add("agent-" + std::to_string(i));
  for (auto& agent : cluster.agents()) cluster.Start(agent);
  auto& agents = cluster.agents();

  auto all_see = [&](const std::vector<int>& observers, const std::string& subject,
                     const std::string& status) {
    for (int i : observers) {
      auto view = Cluster::View(agents[i]);
      if (!view.contains(subject) || view[subject].first != status) return false;
    }
    return true;
  };
  REQUIRE(cluster.WaitAllAlive(5, std::chrono::seconds(10)));

  // The CLI shows the same through the local API.
  const std::string table = RunCommand(std::string(STARLING_BINARY) + " --api 127.0.0.1:" +
                                       std::to_string(agents[2].api_port) + " members");
  for (int i = 1; i <= 5; ++i) CHECK_THAT(table, Catch::Contains("agent-" + std::to_string(i)));
  size_t alive_rows = 0;
  for (size_t at = table.find(" alive "); at != std::string::npos;
       at = table.find(" alive ", at + 1)) {
    ++alive_rows;
  }
  CHECK(alive_rows == 5);

  // kill -9: every other agent marks it dead.
  const unsigned incarnation_before = Cluster::View(agents[0])["agent-4"].second;
  Cluster::Kill(agents[3], SIGKILL);
  CHECK(WaitFor(std::chrono::seconds(10), [&] {
    return all_see({0, 1, 2, 4}, "agent-4", "dead");
  }));

  // Restart: alive again, with a higher incarnation, everywhere.
  cluster.Start(agents[3]);
  REQUIRE(WaitFor(std::chrono::seconds(10), [&] {
    return all_see({0, 1, 2, 3, 4}, "agent-4", "alive");
  }));
  for (int i : {0, 1, 2, 4}) CHECK(Cluster::View(agents[i])["agent-4"].second > incarnation_before);

  // An agent holding another key never joins, and nobody learns of it.
  const fs::path other_key = cluster.dir() / "other-key";
  WriteKeyFile(other_key, RunCommand(std::string(STARLING_BINARY) + " keygen"));
  auto& stranger = cluster.Add("stranger", other_key);
  cluster.Start(stranger);
  REQUIRE(WaitFor(std::chrono::seconds(5), [&] { return Cluster::Members(stranger).has_value(); }));
  // Wait until the seed has turned away several of the stranger's join attempts (it retries
  // while alone), then check that none got through either way.
  auto rejections = [&] {
    std::ifstream log(agents[0].log);
    std::string line;
    int count = 0;
    while (std::getline(log, line))
      count += line.find("does not authenticate") != std::string::npos;
    return count;
  };
  REQUIRE(WaitFor(std::chrono::seconds(10), [&] { return rejections() >= 3; }));
  CHECK(Cluster::View(stranger).size() == 1);
  for (int i = 0; i < 5; ++i) CHECK_FALSE(Cluster::View(agents[i]).contains("stranger"));

  // A graceful leave is seen as such.
  Cluster::Kill(agents[1], SIGTERM);
  CHECK(WaitFor(std::chrono::seconds(5), [&] { return all_see({0, 2, 3, 4}, "agent-2", "left"); }));
}

// POSTs a site to `agent`; true when the agent acknowledged it (HTTP 200).
bool CreateSite(const Cluster::Agent& agent, const std::string& name) {
  httplib::Client client("127.0.0.1", agent.api_port);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(10, 0);
  const json body = {{"name", name}, {"domains", {name + ".example.com"}}};
  auto response = AuthorizedCall(client, "POST", "/v1/sites", body.dump());
  return response && response->status == 200;
}

// The site names `agent` holds, or nullopt when it does not answer.
std::optional<std::set<std::string>> SiteNames(const Cluster::Agent& agent) {
  httplib::Client client("127.0.0.1", agent.api_port);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(2, 0);
  auto response = AuthorizedCall(client, "GET", "/v1/sites");
  if (!response || response->status != 200) return std::nullopt;
  std::set<std::string> names;
  const json body = json::parse(response->body);  // named: a range over a temporary's part dangles
  for (const auto& site : body["sites"]) names.insert(site["name"].get<std::string>());
  return names;
}

TEST_CASE(
    "five agents agree on sites written concurrently, and a kill -9 loses no acknowledged "
    "write",
    "[integration]") {
  Cluster cluster;
  for (int i = 1; i <= 5; ++i) cluster.Add("agent-" + std::to_string(i));
  for (auto& agent : cluster.agents()) cluster.Start(agent);
  auto& agents = cluster.agents();
  REQUIRE(cluster.WaitAllAlive(5, std::chrono::seconds(10)));

  // Concurrent creates on every node.
  std::set<std::string> expected;
  {
    std::vector<std::thread> writers;
    std::vector<int> acknowledged(5, 0);
    for (int i = 0; i < 5; ++i) {
      writers.emplace_back([&, i] {
        for (int j = 0; j < 5; ++j) {
          acknowledged[i] += CreateSite(agents[i], fmt::format("s-{}-{}", i, j)) ? 1 : 0;
        }
      });
    }
    for (auto& writer : writers) writer.join();
    for (int i = 0; i < 5; ++i) {
      CHECK(acknowledged[i] == 5);
      for (int j = 0; j < 5; ++j) expected.insert(fmt::format("s-{}-{}", i, j));
    }
  }
  auto everyone_holds = [&](const std::set<std::string>& names) {
    for (auto& agent : agents) {
      auto held = SiteNames(agent);
      if (!held) return false;
      for (const auto& name : names) {
        if (!held->contains(name)) return false;
      }
    }
    return true;
  };
  auto counts = [&] {
    std::string text;
    for (auto& agent : agents) {
      auto held = SiteNames(agent);
      text += held ? std::to_string(held->size()) + " " : "- ";
    }
    return text;
  };
  const bool converged =
      WaitFor(std::chrono::seconds(10), [&] { return everyone_holds(expected); });
  INFO("sites held per agent: " << counts());
  REQUIRE(converged);
  // The very same list everywhere, through the CLI too.
  const std::string first = RunCommand(
      fmt::format("{} --api 127.0.0.1:{} site list", STARLING_BINARY, agents[0].api_port));
  for (auto& agent : agents) {  // by the URL the agent prints at start, too
    CHECK(RunCommand(fmt::format("{} --api http://127.0.0.1:{}/ site list", STARLING_BINARY,
                                 agent.api_port)) == first);
  }

  // A write burst at agent-3 (and agent-1), and agent-3 is killed in the middle of it.
  std::mutex mutex;
  std::set<std::string> acknowledged;
  std::atomic<bool> stop{false};
  std::atomic<int> victim_acks{0};
  std::vector<std::thread> writers;
  for (int target : {2, 0}) {
    writers.emplace_back([&, target] {
      for (int n = 0; n < 2000 && !stop; ++n) {
        const std::string name = fmt::format("burst-{}-{}", target, n);
        if (CreateSite(agents[target], name)) {
          std::lock_guard lock(mutex);
          acknowledged.insert(name);
          if (target == 2) ++victim_acks;
        } else if (target == 2) {
          return;  // the victim is gone
        }
      }
    });
  }
  REQUIRE(WaitFor(std::chrono::seconds(20), [&] { return victim_acks >= 30; }));
  Cluster::Kill(agents[2], SIGKILL);
  WaitFor(std::chrono::seconds(2), [&] {
    std::lock_guard lock(mutex);
    return acknowledged.size() >= static_cast<size_t>(victim_acks) + 30;
  });
  stop = true;
  for (auto& writer : writers) writer.join();
  cluster.Start(agents[2]);
  std::set<std::string> all = expected;
  all.insert(acknowledged.begin(), acknowledged.end());
  INFO("acknowledged burst writes: " << acknowledged.size() << ", at the victim: " << victim_acks);
  CHECK(WaitFor(std::chrono::seconds(20), [&] { return everyone_holds(all); }));
}

}  // namespace
