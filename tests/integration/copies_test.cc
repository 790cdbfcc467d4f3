// [integration] copies under the real runc on three workers (DESIGN.md §7–8): a site whose
// endpoint burns CPU gets a second copy on another worker under a bounded load and loses it when
// the load stops; a worker killed with its copies (a dead server) has its copy replaced
// elsewhere, and comes back without an extra; a frozen worker's copy, replaced meanwhile, is
// trimmed when it thaws; `node drain` empties a worker. Needs root, runc and busybox-static.
#include <atomic>
#include <set>

#include "tests/integration/cluster.h"

namespace starling::testing {
namespace {

// The short windows keep the test to a few minutes; the rules are the defaults' otherwise.
const char* kCopiesConfig =
    "[copies]\nup_window_s = 2\ndown_window_s = 3\nup_cooldown_s = 2\ndown_cooldown_s = 3\n"
    "stop_grace_s = 1\n";

struct Copy {
  std::string node, state;
  uint16_t port = 0;
  double load1 = 0;
};

// Every copy of `site` the live agents report.
std::vector<Copy> Copies(Cluster& cluster, const std::string& site) {
  std::vector<Copy> out;
  for (const auto& agent : cluster.agents()) {
    if (agent.pid <= 0) continue;
    auto answer = Cluster::Api(agent, "GET", "/v1/copies", "{}", 2);
    if (!answer || answer->first != 200) continue;
    for (const auto& copy : answer->second["copies"]) {
      if (copy["site"] != site) continue;
      out.push_back({copy["node"], copy["state"], copy["port"], copy["load1"]});
    }
  }
  return out;
}

std::vector<Copy> Serving(Cluster& cluster, const std::string& site) {
  std::vector<Copy> serving;
  for (auto& copy : Copies(cluster, site)) {
    if (copy.state == "serving") serving.push_back(copy);
  }
  return serving;
}

std::string Describe(const std::vector<Copy>& copies) {
  std::string text;
  for (const auto& copy : copies) {
    text += fmt::format("{}:{} {} load {:.2f}; ", copy.node, copy.port, copy.state, copy.load1);
  }
  return text.empty() ? "no copies" : text;
}

bool Answers(uint16_t port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(2, 0);
  auto response = client.Get("/index.html");
  return response && response->status == 200 && response->body == "a burning site\n";
}

// Every event text the live agents hold.
std::string Events(Cluster& cluster) {
  std::string text;
  for (const auto& agent : cluster.agents()) {
    if (agent.pid <= 0) continue;
    auto answer = Cluster::Api(agent, "GET", "/v1/events?after=0", "{}", 2);
    if (!answer || answer->first != 200) continue;
    for (const auto& event : answer->second["events"]) {
      text += event["node"].get<std::string>() + ": " + event["text"].get<std::string>() + "\n";
    }
  }
  return text;
}

// Whether `condition` holds at every check for `span` (polled; false at its first failure).
bool StaysTrue(std::chrono::milliseconds span, const std::function<bool()>& condition) {
  return !WaitFor(span, [&] { return !condition(); });
}

Cluster::Agent& Named(Cluster& cluster, const std::string& name) {
  for (auto& agent : cluster.agents()) {
    if (agent.name == name) return agent;
  }
  FAIL("no agent " << name);
  return cluster.agents().front();
}

// The site's image: busybox's httpd, a page, and a CGI program that burns CPU per request.
fs::path BuildImage(const fs::path& dir) {
  const fs::path tree = dir / "burn-image";
  for (const char* sub : {"bin", "www/cgi-bin", "proc", "dev", "sys", "tmp"}) {
    fs::create_directories(tree / sub);
  }
  fs::copy_file("/bin/busybox", tree / "bin/busybox");
  fs::create_symlink("busybox", tree / "bin/sh");
  std::ofstream(tree / "www/index.html") << "a burning site\n";
  std::ofstream(tree / "www/cgi-bin/burn")
      << "#!/bin/sh\n"
         "i=0\n"
         "while [ $i -lt 20000 ]; do i=$((i+1)); done\n"
         "printf 'Content-Type: text/plain\\r\\n\\r\\nburnt\\n'\n";
  fs::permissions(tree / "www/cgi-bin/burn", fs::perms::owner_all | fs::perms::group_read |
                                                 fs::perms::group_exec | fs::perms::others_read |
                                                 fs::perms::others_exec);
  return tree;
}

TEST_CASE("copies scale with load, come back after a dead worker, are trimmed, and drain",
          "[integration][copies]") {
  REQUIRE(::geteuid() == 0);
  REQUIRE(fs::exists("/bin/busybox"));
  Cluster cluster;
  for (int i = 1; i <= 3; ++i) cluster.Add("worker-" + std::to_string(i), {}, kCopiesConfig);
  for (auto& agent : cluster.agents()) cluster.Start(agent);
  auto& agents = cluster.agents();
  REQUIRE(WaitFor(std::chrono::seconds(20), [&] { return cluster.AllAlive(3); }));

  auto created = Cluster::Api(agents[0], "POST", "/v1/sites?ack=all-live",
                              R"({"name":"burn","domains":["burn.example.com"],"max":3})");
  REQUIRE(created);
  INFO(created->second.dump());
  REQUIRE(created->first == 200);
  const json push = {
      {"path", BuildImage(cluster.dir()).string()},
      {"command",
       {"/bin/busybox", "sh", "-c", "exec /bin/busybox httpd -f -p 127.0.0.1:$PORT -h /www"}}};
  auto pushed = Cluster::Api(agents[0], "POST", "/v1/images/burn?ack=all-live", push.dump(), 60);
  REQUIRE(pushed);
  INFO(pushed->second.dump());
  REQUIRE(pushed->first == 200);

  // One copy (the site's minimum), serving.
  std::vector<Copy> copies;
  REQUIRE(WaitFor(std::chrono::seconds(30), [&] {
    copies = Serving(cluster, "burn");
    return copies.size() == 1 && Answers(copies[0].port);
  }));
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
    CHECK_THAT(Events(cluster), Catch::Contains("2 copies of burn (was 1): mean load"));

    // The load is gone: within the load average's decay (~1 min) and the down window, the
    // site is back to one copy.
    const bool trimmed = WaitFor(std::chrono::seconds(150), [&] {
      copies = Copies(cluster, "burn");
      return copies.size() == 1 && copies[0].state == "serving";
    });
    INFO(Describe(copies) << "\n" << Events(cluster));
    REQUIRE(trimmed);
    CHECK_THAT(Events(cluster), Catch::Contains("1 copies of burn (was 2): every copy's load"));
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
    REQUIRE(WaitFor(std::chrono::seconds(30), [&] { return cluster.AllAlive(3); }));
    // The restarted worker cleans up what its earlier run left, and the site keeps its count:
    // one copy, where the replacement started, through several rounds.
    REQUIRE(WaitFor(std::chrono::seconds(20), [&] {
      return Events(cluster).find("left by an earlier run of this node") != std::string::npos;
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
    REQUIRE(WaitFor(std::chrono::seconds(30), [&] { return cluster.AllAlive(3); }));
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
        RunCommand(cli + "node drain " + first_node + " --ack all-live 2>&1");
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
