// [integration] deploying sites on three workers under the real runc (DESIGN.md §8): a new
// version rolls out through nginx under load with no failed request and never fewer serving
// copies; a broken version stops its rollout with the one before still serving; rollback and
// restart; a copy that never answers on its port fails at its site's start_timeout_s with an
// event quoting its output; the seed node's agent, restarted alone while the others live, starts
// no copy before it has heard them (a node alone sees no copies and would start one of every
// site). Needs root, runc, busybox-static, nginx and its Lua module.
#include <fmt/chrono.h>

#include <atomic>
#include <mutex>

#include "tests/integration/load.h"
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

// The burn image with www/version.txt saying `version`, in its own tree.
fs::path VersionImage(const fs::path& dir, const std::string& version) {
  const fs::path tree = dir / ("image-" + version);
  fs::copy(BuildImage(dir), tree,
           fs::copy_options::recursive | fs::copy_options::copy_symlinks |
               fs::copy_options::overwrite_existing);
  std::ofstream(tree / "www/version.txt") << version << "\n";
  return tree;
}

const char* kServe = "exec /bin/busybox httpd -f -p 127.0.0.1:$PORT -h /www";

json Release(const Cluster::Agent& agent, const std::string& site) {
  auto release = Cluster::Api(agent, "GET", "/v1/sites/" + site + "/release", "{}", 2);
  REQUIRE(release);
  INFO(release->second.dump());
  REQUIRE(release->first == 200);
  return release->second;
}

// The site's copies that are not going away, and of those how many run release `tag`.
std::pair<size_t, size_t> OnRelease(Cluster& cluster, const std::string& site,
                                    const std::string& tag) {
  size_t live = 0, current = 0;
  for (const auto& agent : cluster.agents()) {
    if (agent.pid <= 0) continue;
    auto answer = Cluster::Api(agent, "GET", "/v1/copies", "{}", 2);
    if (!answer || answer->first != 200) continue;
    for (const auto& copy : answer->second["copies"]) {
      if (copy["site"] != site || copy["state"] == "stopping" || copy["state"] == "failed") {
        continue;
      }
      ++live;
      current += copy["release"] == tag && copy["state"] == "serving";
    }
  }
  return {live, current};
}

TEST_CASE("a new version rolls out under load with no failed request; a broken one stops",
          "[integration][deploy]") {
  REQUIRE(::geteuid() == 0);
  REQUIRE(fs::exists("/usr/lib/nginx/modules/ngx_http_lua_module.so"));
  Cluster cluster;
  const uint16_t listen = FreePort();
  uint16_t control = FreePort();
  while (control == listen) control = FreePort();
  for (int i = 1; i <= 3; ++i) cluster.Add("worker-" + std::to_string(i), {}, kCopiesConfig);
  cluster.Add("balancer", {},
              fmt::format("role = \"balancer\"\n[balancer]\nlisten = \"127.0.0.1:{}\"\n"
                          "control = \"127.0.0.1:{}\"\n",
                          listen, control));
  for (auto& agent : cluster.agents()) cluster.Start(agent);
  auto& agents = cluster.agents();
  REQUIRE(cluster.WaitAllAlive(4, std::chrono::seconds(30)));

  auto created = Cluster::Api(
      agents[0], "POST", "/v1/sites?ack=all-live",
      json{{"name", "roll"}, {"domains", {"roll.example.com"}}, {"min", 2}, {"max", 3}}.dump());
  REQUIRE(created);
  REQUIRE(created->first == 200);
  auto push = [&](const std::string& version, const std::string& command) {
    const json body = {{"path", VersionImage(cluster.dir(), version).string()},
                       {"command", command}};
    auto pushed = Cluster::Api(agents[0], "POST", "/v1/images/roll?ack=all-live", body.dump(), 60);
    REQUIRE(pushed);
    INFO(pushed->second.dump());
    REQUIRE(pushed->first == 200);
    return pushed->second["version"].get<std::string>();
  };
  const std::string v1 = push("v1", kServe);
  std::string tag = Release(agents[0], "roll")["tag"];
  REQUIRE(WaitFor(std::chrono::seconds(30), [&] {
    return OnRelease(cluster, "roll", tag) == std::pair<size_t, size_t>{2, 2};
  }));

  GetLoad load(listen, "roll.example.com", "/version.txt");
  // A clean window first: a new site's server block reaches nginx by a reload, whose old
  // workers answer 404 for a moment.
  REQUIRE(WaitFor(std::chrono::seconds(20), [&] {
    load.ResetFailures();
    load.Reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a window of answers
    return load.failed() == 0 && load.bodies()["v1\n"] > 0;
  }));
  // Serving copies are counted all along: never fewer than the two there were.
  std::atomic<bool> watching{true};
  std::atomic<size_t> fewest{2};
  std::mutex gap_mutex;
  std::string gap;  // when the fewest were seen
  std::thread watcher([&] {
    while (watching) {
      // Every live agent's answer, or no sample (one that answers late is not a gap).
      size_t serving = 0, answered = 0;
      for (const auto& agent : cluster.agents()) {
        auto answer = Cluster::Api(agent, "GET", "/v1/copies", "{}", 2);
        if (!answer || answer->first != 200) break;
        ++answered;
        for (const auto& copy : answer->second["copies"]) {
          serving += copy["site"] == "roll" && copy["state"] == "serving";
        }
      }
      if (answered == cluster.agents().size() && serving < fewest) {
        fewest = serving;
        std::lock_guard lock(gap_mutex);
        gap = fmt::format("{} serving at {:%T}", serving, std::chrono::system_clock::now());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a sampling interval
    }
  });
  auto finish = [&] {
    watching = false;
    watcher.join();
    load.Stop();
  };

  // v2: every copy is replaced, one at a time, make before break.
  const std::string v2 = push("v2", kServe);
  tag = Release(agents[0], "roll")["tag"];
  CHECK(Release(agents[0], "roll")["version"] == v2);
  CHECK(Release(agents[0], "roll")["previous"] == v1);
  const bool rolled = WaitFor(std::chrono::seconds(60), [&] {
    return OnRelease(cluster, "roll", tag) == std::pair<size_t, size_t>{2, 2};
  });
  INFO(Events(cluster));
  if (!rolled) finish();
  REQUIRE(rolled);
  CHECK(EventsOf(cluster, "copy.replace").size() == 2);
  // After the rollout every answer is v2 (once the balancers dropped the last old copy).
  REQUIRE(WaitFor(std::chrono::seconds(10), [&] {
    load.Reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a window of answers
    const auto bodies = load.bodies();
    return bodies.size() == 1 && bodies.begin()->first == "v2\n";
  }));

  // v3 exits at once: its first replacement never serves, the rollout stops, v2 serves on.
  const std::string v3 = push("v3", "echo v3 is broken; exit 3");
  const bool stopped = WaitFor(std::chrono::seconds(30),
                               [&] { return !Release(agents[0], "roll")["stopped"].is_null(); });
  REQUIRE(stopped);
  CHECK(AnyEvent(EventsOf(cluster, "site.rollout_stopped"), [&](const json& e) {
    return e["site"] == "roll" && e["version"] == v3 &&
           e["why"].get<std::string>().find("exited") != std::string::npos;
  }));
  CHECK(StaysTrue(std::chrono::seconds(3), [&] {
    return OnRelease(cluster, "roll", tag) == std::pair<size_t, size_t>{2, 2};
  }));
  load.Reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a window of answers
  CHECK(load.bodies() == std::map<std::string, int>{{"v2\n", load.bodies()["v2\n"]}});

  // Rollback: v2 is the release again, its rollout not stopped, its copies current as they are.
  auto back = Cluster::Api(agents[1], "POST", "/v1/sites/roll/rollback?ack=all-live", "{}");
  REQUIRE(back);
  REQUIRE(back->first == 200);
  const json after = Release(agents[0], "roll");
  CHECK(after["version"] == v2);
  CHECK(after["previous"] == v3);
  CHECK(after["stopped"].is_null());
  CHECK(after["tag"] == tag);

  // Restart: the same version rolled again, every copy replaced, still nothing failed.
  auto restarted = Cluster::Api(agents[2], "POST", "/v1/sites/roll/restart?ack=all-live", "{}");
  REQUIRE(restarted);
  REQUIRE(restarted->first == 200);
  tag = Release(agents[0], "roll")["tag"];
  CHECK(tag != after["tag"]);
  const bool restarted_all = WaitFor(std::chrono::seconds(60), [&] {
    return OnRelease(cluster, "roll", tag) == std::pair<size_t, size_t>{2, 2};
  });
  CHECK(restarted_all);

  // A change of what copies start with (their memory limit) rolls them too.
  auto limited = Cluster::Api(agents[0], "PATCH", "/v1/sites/roll?ack=all-live",
                              json{{"memory_mb", 256}}.dump());
  REQUIRE(limited);
  REQUIRE(limited->first == 200);
  const std::string before_limit = tag;
  tag = Release(agents[0], "roll")["tag"];
  CHECK(tag != before_limit);
  const bool relimited = WaitFor(std::chrono::seconds(60), [&] {
    return OnRelease(cluster, "roll", tag) == std::pair<size_t, size_t>{2, 2};
  });
  finish();
  CHECK(relimited);
  INFO(load.failures());
  CHECK(load.failed() == 0);
  CHECK(fewest >= 2);
  WARN(load.requests() << " requests, " << load.failed() << " failed; fewest serving copies "
                       << fewest << " " << gap);
  // A rollback with nothing kept before it is refused, and changes nothing.
  CHECK(Cluster::Api(agents[0], "POST", "/v1/sites/nosuch/rollback", "{}")->first == 404);
}

TEST_CASE("a copy that never answers fails at its deadline", "[integration][deploy]") {
  REQUIRE(::geteuid() == 0);
  Cluster cluster;
  for (int i = 1; i <= 3; ++i) cluster.Add("worker-" + std::to_string(i), {}, kCopiesConfig);
  for (auto& agent : cluster.agents()) cluster.Start(agent);
  auto& agents = cluster.agents();
  REQUIRE(cluster.WaitAllAlive(3, std::chrono::seconds(20)));

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
  REQUIRE(cluster.WaitAllAlive(3, std::chrono::seconds(20)));
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
  std::string seen;
  const bool unmoved = StaysTrue(std::chrono::seconds(5), [&] {
    for (const auto& [site, node] : elsewhere) {
      const auto copies = Copies(cluster, site);
      seen = site + " (was on " + node + "): " + Describe(copies);
      if (copies.size() != 1 || copies[0].node != node) return false;
    }
    return true;
  });
  INFO(seen << "\n" << Events(cluster));
  CHECK(unmoved);
}

}  // namespace
}  // namespace starling::testing
