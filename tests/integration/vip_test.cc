// [integration] the whole platform in a lab network (scripts/netlab): 3 workers and 2 balancers,
// each node its own network namespace on one bridge, the site reached at the balancer pair's
// shared address (keepalived, VRRP). wrk (bounded: 4 connections, a few seconds per event)
// drives it while the site scales up, scales down, a worker dies with its copy, and the active
// balancer dies; failed requests are counted per event (DESIGN.md §9). Needs root, ip netns,
// runc, busybox-static, nginx with its Lua module, keepalived and wrk (scripts/bootstrap).
#include <future>

#include "tests/integration/sites.h"
#include "tests/integration/wrk.h"

namespace starling::testing {
namespace {

constexpr const char* kVip = "10.77.0.100";
constexpr uint16_t kListen = 8080;
constexpr const char* kDomain = "web.example.com";

int GetVip(int connect_ms = 1000) {
  httplib::Client client(kVip, kListen);
  client.set_connection_timeout(0, connect_ms * 1000);
  client.set_read_timeout(2, 0);
  auto response = client.Get("/index.html", {{"Host", kDomain}});
  return response && response->body == kPage ? response->status : 0;
}

json State(const Cluster::Agent& balancer) {
  auto state = Cluster::Api(balancer, "GET", "/v1/balancer", "{}", 2);
  return state && state->first == 200 ? state->second : json::object();
}

size_t Peers(const Cluster::Agent& balancer) {
  const json state = State(balancer);
  return state.contains("sites") && state["sites"].contains("web") ? state["sites"]["web"].size()
                                                                   : 0;
}

// wrk against the shared address for `seconds` (4 connections, one thread), in the background.
std::future<WrkResult> Wrk(int seconds) {
  return RunWrk(fmt::format("-t1 -c4 -d{}s --timeout 2s -H 'Host: {}' http://{}:{}/index.html",
                            seconds, kDomain, kVip, kListen));
}

TEST_CASE(
    "a balancer pair's shared address: scale up and down, a worker and the active "
    "balancer die under load",
    "[integration][vip]") {
  REQUIRE(::geteuid() == 0);
  REQUIRE(fs::exists("/bin/busybox"));
  REQUIRE(fs::exists("/usr/lib/nginx/modules/ngx_http_lua_module.so"));
  REQUIRE(RunCommand("for p in keepalived wrk nsenter; do command -v $p; done | wc -l") == "3\n");
  REQUIRE(NetLab::Possible());
  NetLab lab("stl" + std::to_string(::getpid() % 100000), 5);
  Cluster cluster(lab.name());
  for (int i = 1; i <= 3; ++i) cluster.Add(fmt::format("worker-{}", i), {}, kCopiesConfig);
  const std::string balancer_config = BalancerPairConfig(kListen, kVip);
  cluster.Add("balancer-1", {}, balancer_config);
  cluster.Add("balancer-2", {}, balancer_config);
  for (auto& agent : cluster.agents()) cluster.Start(agent);
  auto& agents = cluster.agents();
  REQUIRE(cluster.WaitAllAlive(5, std::chrono::seconds(20)));

  CreateSite(cluster, "web", kDomain);
  REQUIRE(WaitFor(std::chrono::seconds(20), [&] { return GetVip() == 200; }));
  // Exactly one balancer holds the address.
  auto active = [&]() -> Cluster::Agent* {
    Cluster::Agent* holder = nullptr;
    int holders = 0;
    for (int i = 3; i < 5; ++i) {
      if (agents[i].pid > 0 && State(agents[i]).value("holds_vip", false)) {
        holder = &agents[i];
        ++holders;
      }
    }
    return holders == 1 ? holder : nullptr;
  };
  REQUIRE(WaitFor(std::chrono::seconds(10), [&] { return active() != nullptr; }));
  CHECK(WaitFor(std::chrono::seconds(10), [&] {
    return State(agents[3]).value("keepalived_pid", -1) > 0 &&
           State(agents[4]).value("keepalived_pid", -1) > 0;
  }));

  auto patch = [&](const json& body) {
    auto patched = Cluster::Api(agents[0], "PATCH", "/v1/sites/web?ack=all-live", body.dump());
    REQUIRE(patched);
    INFO(patched->second.dump());
    REQUIRE(patched->first == 200);
  };
  auto peers_everywhere = [&](size_t n) {
    for (int i = 3; i < 5; ++i) {
      if (agents[i].pid > 0 && Peers(agents[i]) != n) return false;
    }
    return true;
  };
  std::vector<std::pair<std::string, WrkResult>> report;
  // One event under wrk: the load starts, `event` runs a second later and waits for its
  // outcome, and wrk's counts for the whole span are kept.
  auto under_load = [&](const std::string& name, int seconds, const std::function<void()>& event) {
    auto wrk = Wrk(seconds);
    std::this_thread::sleep_for(std::chrono::seconds(1));  // wrk's connections open first
    event();
    report.emplace_back(name, wrk.get());
    INFO(name << ":\n" << report.back().second.output);
    CHECK(report.back().second.requests > 100);
  };

  under_load("scale up 1 -> 2", 8, [&] {
    patch({{"min", 2}});
    REQUIRE(WaitFor(std::chrono::seconds(20), [&] { return peers_everywhere(2); }));
  });
  CHECK(report.back().second.failed() == 0);

  under_load("scale down 2 -> 1", 10, [&] {
    patch({{"min", 1}, {"max", 1}});
    REQUIRE(WaitFor(std::chrono::seconds(30),
                    [&] { return Copies(cluster, "web").size() == 1 && peers_everywhere(1); }));
  });
  CHECK(report.back().second.failed() == 0);

  patch({{"min", 2}, {"max", 3}});
  REQUIRE(WaitFor(std::chrono::seconds(20), [&] { return peers_everywhere(2); }));
  under_load("worker dies with its copy", 8, [&] {
    auto serving = Serving(cluster, "web");
    REQUIRE(serving.size() == 2);
    // Not worker-1: the test speaks to the cluster through it.
    const Copy& doomed = serving[0].node != "worker-1" ? serving[0] : serving[1];
    Cluster::Agent& victim = Named(cluster, doomed.node);
    Cluster::Kill(victim, SIGKILL);
    cluster.KillCopies(victim);
    // Out of both upstreams once seen dead; a replacement elsewhere then joins.
    REQUIRE(WaitFor(std::chrono::seconds(15), [&] {
      for (int i = 3; i < 5; ++i) {
        const json sites = State(agents[i]).value("sites", json::object());
        const std::string gone = victim.host + ":" + std::to_string(doomed.port);
        if (sites.contains("web") && sites["web"].dump().find(gone) != std::string::npos) {
          return false;
        }
      }
      return true;
    }));
  });
  CHECK(report.back().second.failed() == 0);

  // The active balancer's machine dies: its link goes down and its processes are killed.
  Cluster::Agent* dying = active();
  REQUIRE(dying != nullptr);
  Cluster::Agent& survivor = dying == &agents[3] ? agents[4] : agents[3];
  double back_after_s = -1;
  under_load("active balancer dies", 8, [&] {
    const int node = dying == &agents[3] ? 4 : 5;
    const auto died = std::chrono::steady_clock::now();
    lab.Crash(node);
    Cluster::Kill(*dying, SIGKILL);  // reaps the agent (dead already)
    // The first GET begun after the death that the shared address answers.
    REQUIRE(WaitFor(std::chrono::seconds(10), [&] { return GetVip(200) == 200; }));
    back_after_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - died).count();
  });
  CHECK(State(survivor).value("holds_vip", false));
  CHECK(State(survivor).value("health", "") == "ok");
  CHECK(back_after_s <= 3.0);

  std::string table = fmt::format("{:<28} {:>9} {:>7} {:>8} {:>5} {:>6} {:>8}\n", "event",
                                  "requests", "non2xx", "connect", "read", "write", "timeout");
  for (const auto& [name, r] : report) {
    table += fmt::format("{:<28} {:>9} {:>7} {:>8} {:>5} {:>6} {:>8}\n", name, r.requests, r.non2xx,
                         r.connect, r.read, r.write, r.timeout);
  }
  table += fmt::format("shared address serving again {:.2f} s after the active balancer died\n",
                       back_after_s);
  std::printf("%s", table.c_str());
  WARN(table);
}

}  // namespace
}  // namespace starling::testing
