// [integration] deploying sites on three workers under the real runc (DESIGN.md §8): a copy that
// never answers on its port fails at its site's start_timeout_s with an event quoting its output;
// the seed node's agent, restarted alone while the others live, starts no copy before it has
// heard them (a node alone sees no copies and would start one of every site). Needs root, runc
// and busybox-static.
#include "tests/integration/sites.h"

namespace starling::testing {
namespace {

// The first event of `kind` at `node` (its fields), or null.
json FirstEvent(Cluster& cluster, const std::string& node, const std::string& kind) {
  for (const json& event : EventsOf(cluster, kind)) {
    if (event["node"] == node) return event;
  }
  return nullptr;
}

TEST_CASE("a copy that never answers fails at its deadline", "[integration][deploy]") {
  REQUIRE(::geteuid() == 0);
  Cluster cluster;
  for (int i = 1; i <= 3; ++i) cluster.Add("worker-" + std::to_string(i), {}, kCopiesConfig);
  for (auto& agent : cluster.agents()) cluster.Start(agent);
  auto& agents = cluster.agents();
  REQUIRE(WaitFor(std::chrono::seconds(20), [&] { return cluster.AllAlive(3); }));

  auto created = Cluster::Api(
      agents[0], "POST", "/v1/sites?ack=all-live",
      json{{"name", "mute"}, {"domains", {"mute.example.com"}}, {"start_timeout_s", 2}}.dump());
  REQUIRE(created);
  REQUIRE(created->first == 200);
  // It prints a line and sleeps: it never listens.
  const json push = {{"path", BuildImage(cluster.dir()).string()},
                     {"command", "echo never listening on $PORT; exec /bin/busybox sleep 1000"}};
  auto pushed = Cluster::Api(agents[0], "POST", "/v1/images/mute?ack=all-live", push.dump(), 60);
  REQUIRE(pushed);
  INFO(pushed->second.dump());
  REQUIRE(pushed->first == 200);

  std::vector<json> timeouts;
  const bool timed_out = WaitFor(std::chrono::seconds(30), [&] {
    timeouts = EventsOf(cluster, "copy.start_timeout");
    return !timeouts.empty();
  });
  INFO(Events(cluster));
  REQUIRE(timed_out);
  const json& event = timeouts.front();
  CHECK(event["site"] == "mute");
  CHECK(event["seconds"] == 2);
  // Its output is quoted, with $PORT as the copy's shell expanded it (a port number).
  const std::string output = event["output"];
  CHECK(output.starts_with("never listening on 3"));
  // It is stopped, and the site is tried again (after the backoff) rather than left starting.
  CHECK(WaitFor(std::chrono::seconds(20), [&] {
    return AnyEvent(EventsOf(cluster, "copy.stopped"),
                    [&](const json& e) { return e["copy"] == event["copy"]; });
  }));
  CHECK(WaitFor(std::chrono::seconds(30),
                [&] { return EventsOf(cluster, "copy.start_timeout").size() >= 2; }));
}

TEST_CASE("the seed node restarted alone starts no copy before it has heard the others",
          "[integration][deploy]") {
  REQUIRE(::geteuid() == 0);
  Cluster cluster;
  for (int i = 1; i <= 3; ++i) cluster.Add("worker-" + std::to_string(i), {}, kCopiesConfig);
  for (auto& agent : cluster.agents()) cluster.Start(agent);
  auto& agents = cluster.agents();
  REQUIRE(WaitFor(std::chrono::seconds(20), [&] { return cluster.AllAlive(3); }));
  Cluster::Agent& seed = agents[0];  // it joins no one: the others joined it

  // Sites until two have their copy elsewhere than on the seed.
  std::map<std::string, std::string> elsewhere;  // site: node
  for (int i = 0; i < 8 && elsewhere.size() < 2; ++i) {
    const std::string site = "site-" + std::to_string(i);
    const Copy copy = CreateSite(cluster, site, site + ".example.com");
    if (copy.node != seed.name) elsewhere[site] = copy.node;
  }
  REQUIRE(elsewhere.size() == 2);

  // A restart of its agent with its own configuration (joining no one), while the others live.
  Cluster::Kill(seed, SIGKILL);
  cluster.Start(seed, /*rejoin=*/false);
  const bool holding = WaitFor(std::chrono::seconds(10), [&] {
    return !FirstEvent(cluster, seed.name, "node.holding").is_null();
  });
  INFO(Events(cluster));
  REQUIRE(holding);
  const bool deciding = WaitFor(std::chrono::seconds(60), [&] {
    return !FirstEvent(cluster, seed.name, "node.deciding").is_null();
  });
  REQUIRE(deciding);
  const uint64_t decided_at = FirstEvent(cluster, seed.name, "node.deciding")["seq"];
  for (const json& start : EventsOf(cluster, "copy.start")) {
    if (start["node"] == seed.name) CHECK(start["seq"].get<uint64_t>() > decided_at);
  }
  // Nothing moved: each site served elsewhere still has its one copy where it was.
  CHECK(StaysTrue(std::chrono::seconds(5), [&] {
    for (const auto& [site, node] : elsewhere) {
      const auto copies = Copies(cluster, site);
      if (copies.size() != 1 || copies[0].node != node) return false;
    }
    return true;
  }));
}

}  // namespace
}  // namespace starling::testing
