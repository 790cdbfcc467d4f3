// [integration] copies under the real runc on three workers (DESIGN.md §7–8): a site whose
// endpoint burns CPU gets a second copy on another worker under a bounded load and loses it when
// the load stops; a worker killed with its copies (a dead server) has its copy replaced
// elsewhere, and comes back without an extra; a frozen worker's copy, replaced meanwhile, is
// trimmed when it thaws; `node drain` empties a worker. Needs root, runc and busybox-static.
#include <atomic>
#include <set>

#include "tests/integration/sites.h"

namespace starling::testing {
namespace {

TEST_CASE("copies scale with load, come back after a dead worker, are trimmed, and drain",
          "[integration][copies]") {
  REQUIRE(::geteuid() == 0);
  REQUIRE(fs::exists("/bin/busybox"));
  Cluster cluster;
  for (int i = 1; i <= 3; ++i) cluster.Add("worker-" + std::to_string(i), {}, kCopiesConfig);
  for (auto& agent : cluster.agents()) cluster.Start(agent);
  auto& agents = cluster.agents();
  REQUIRE(cluster.WaitAllAlive(3, std::chrono::seconds(20)));

  // One copy (the site's minimum), serving.
  std::vector<Copy> copies = {CreateSite(cluster, "burn", "burn.example.com")};
  const std::string first_node = copies[0].node;
  const uint16_t first_port = copies[0].port;

  SECTION("load adds a copy on another worker; its end removes it") {
    // Eight clients at once keep about eight CGI processes runnable in the copy's one core:
    // its load average passes 2 within ~20 s. Bounded: 120 s, and ends once a second copy serves.
    std::atomic<bool> stop{false};
    std::atomic<int> requests{0};
    std::vector<std::thread> clients;
    const auto load_end = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    for (int c = 0; c < 8; ++c) {
      clients.emplace_back([&] {
        httplib::Client client("127.0.0.1", first_port);
        client.set_read_timeout(10, 0);
        while (!stop && std::chrono::steady_clock::now() < load_end && requests < 20000) {
          if (client.Get("/cgi-bin/burn")) ++requests;
        }
      });
    }
    const bool scaled = WaitFor(std::chrono::seconds(120), [&] {
      copies = Serving(cluster, "burn");
      return copies.size() >= 2;
    });
    stop = true;
    for (auto& client : clients) client.join();
    INFO(Describe(copies) << "\n" << Events(cluster) << requests << " requests");
    REQUIRE(scaled);
    std::set<std::string> nodes;
    for (const auto& copy : copies) nodes.insert(copy.node);
    CHECK(nodes.size() == copies.size());  // at most one copy of a site per worker
    for (const auto& copy : copies) CHECK(Answers(copy.port));
    CHECK(AnyEvent(EventsOf(cluster, "site.scale"), [](const json& e) {
      return e["site"] == "burn" && e["count"] == 2 && e["was"] == 1 &&
             e["why"].get<std::string>().starts_with("mean load");
    }));

    // The load is gone: within the load average's decay (~1 min) and the down window, the
    // site is back to one copy.
    const bool trimmed = WaitFor(std::chrono::seconds(150), [&] {
      copies = Copies(cluster, "burn");
      return copies.size() == 1 && copies[0].state == "serving";
    });
    INFO(Describe(copies) << "\n" << Events(cluster));
    REQUIRE(trimmed);
    CHECK(AnyEvent(EventsOf(cluster, "site.scale"), [](const json& e) {
      return e["site"] == "burn" && e["count"] == 1 && e["was"] == 2 &&
             e["why"].get<std::string>().starts_with("every copy's load");
    }));
  }

  SECTION("a dead worker's copy comes back elsewhere; its restart adds no extra") {
    Cluster::Agent& dead = Named(cluster, first_node);
    Cluster::Kill(dead, SIGKILL);
    cluster.KillCopies(dead);
    REQUIRE_FALSE(Answers(first_port));
    const bool replaced = WaitFor(std::chrono::seconds(30), [&] {
      copies = Serving(cluster, "burn");
      return copies.size() == 1 && copies[0].node != first_node && Answers(copies[0].port);
    });
    INFO(Describe(copies) << "\n" << Events(cluster));
    REQUIRE(replaced);
    const std::string replacement = copies[0].node;

    cluster.Start(dead);
    REQUIRE(cluster.WaitAllAlive(3, std::chrono::seconds(30)));
    // The restarted worker cleans up what its earlier run left, and the site keeps its count:
    // one copy, where the replacement started, through several rounds.
    REQUIRE(WaitFor(std::chrono::seconds(20), [&] {
      return AnyEvent(EventsOf(cluster, "copy.leftover"),
                      [&](const json& e) { return e["node"] == first_node; });
    }));
    const bool steady = StaysTrue(std::chrono::seconds(5), [&] {
      copies = Copies(cluster, "burn");
      return copies.size() == 1 && copies[0].state == "serving" && copies[0].node == replacement;
    });
    INFO(Describe(copies) << "\n" << Events(cluster));
    CHECK(steady);
  }

  SECTION("a frozen worker's copy is replaced, and the extra is trimmed when it thaws") {
    Cluster::Agent& frozen = Named(cluster, first_node);
    ::kill(frozen.pid, SIGSTOP);  // the agent hangs; its copy keeps serving
    const bool replaced = WaitFor(std::chrono::seconds(30), [&] {
      copies = Serving(cluster, "burn");  // the frozen agent does not answer: others only
      return copies.size() == 1 && copies[0].node != first_node;
    });
    INFO(Describe(copies) << "\n" << Events(cluster));
    ::kill(frozen.pid, SIGCONT);
    REQUIRE(replaced);
    REQUIRE(cluster.WaitAllAlive(3, std::chrono::seconds(30)));
    const bool trimmed = WaitFor(std::chrono::seconds(30), [&] {
      copies = Copies(cluster, "burn");
      return copies.size() == 1 && copies[0].state == "serving";
    });
    INFO(Describe(copies) << "\n" << Events(cluster));
    CHECK(trimmed);
  }

  SECTION("node drain moves the copy away and keeps the worker empty") {
    // Through the CLI, as an operator would.
    const std::string cli =
        fmt::format("{} --api 127.0.0.1:{} ", STARLING_BINARY, agents[1].api_port);
    const std::string drained =
        RunCommand(cli + "node drain " + first_node + " --ack all-live --json 2>&1");
    INFO(drained);
    REQUIRE_THAT(drained, Catch::Contains("\"draining\": true"));
    const bool moved = WaitFor(std::chrono::seconds(30), [&] {
      copies = Copies(cluster, "burn");
      return copies.size() == 1 && copies[0].node != first_node && copies[0].state == "serving";
    });
    INFO(Describe(copies) << "\n" << Events(cluster));
    REQUIRE(moved);
    CHECK(Answers(copies[0].port));
    CHECK_FALSE(Answers(first_port));

    // `starling copies` lists it, from every node.
    const std::string listed = RunCommand(cli + "copies --site burn");
    CHECK_THAT(listed, Catch::Contains(copies[0].node) && Catch::Contains("serving"));
    CHECK_THAT(RunCommand(cli + "node drain no-such-node 2>&1"),
               Catch::Contains("no member 'no-such-node'"));
    CHECK_THAT(RunCommand(cli + "site scale burn 2>&1"), Catch::Contains("needs --min, --max"));
    auto undrained = Cluster::Api(agents[1], "DELETE", "/v1/drain/" + first_node + "?ack=all-live");
    REQUIRE(undrained);
    CHECK(undrained->first == 200);
  }
}

}  // namespace
}  // namespace starling::testing
