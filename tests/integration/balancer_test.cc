// [integration] a site served through the real nginx on a balancer node (DESIGN.md §9): copies
// added and removed reach nginx with no reload and cost no GET (a removed copy is drained
// first); a domain change reloads once; a worker killed with its copies costs no GET (nginx
// retries the next copy); nginx writes JSON access logs. Needs root, runc, busybox-static,
// nginx and its Lua module (scripts/bootstrap installs them).
#include <atomic>
#include <mutex>

#include "tests/integration/load.h"
#include "tests/integration/sites.h"

namespace starling::testing {
namespace {

std::pair<int, std::string> Get(uint16_t port, const std::string& host, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  auto response = client.Get(path, {{"Host", host}});
  if (!response) return {0, httplib::to_string(response.error())};
  return {response->status, response->body};
}

json BalancerState(const Cluster::Agent& balancer) {
  auto state = Cluster::Api(balancer, "GET", "/v1/balancer", "{}", 2);
  REQUIRE(state);
  REQUIRE(state->first == 200);
  return state->second;
}

size_t Peers(const Cluster::Agent& balancer, const std::string& site) {
  const json state = BalancerState(balancer);
  return state["sites"].contains(site) ? state["sites"][site].size() : 0;
}

TEST_CASE("a site through nginx: copies come and go with no reload and no failed GET",
          "[integration][balancer]") {
  REQUIRE(::geteuid() == 0);
  REQUIRE(fs::exists("/bin/busybox"));
  REQUIRE(fs::exists("/usr/lib/nginx/modules/ngx_http_lua_module.so"));
  Cluster cluster;
  const uint16_t listen = FreePort();
  uint16_t control = FreePort();
  while (control == listen) control = FreePort();
  cluster.Add("worker-1", {}, kCopiesConfig);
  cluster.Add("worker-2", {}, kCopiesConfig);
  cluster.Add("balancer", {},
              fmt::format("role = \"balancer\"\n[balancer]\nlisten = \"127.0.0.1:{}\"\n"
                          "control = \"127.0.0.1:{}\"\n",
                          listen, control));
  for (auto& agent : cluster.agents()) cluster.Start(agent);
  auto& agents = cluster.agents();
  const Cluster::Agent& balancer = agents[2];
  REQUIRE(cluster.WaitAllAlive(3, std::chrono::seconds(20)));

  CreateSite(cluster, "web", "web.example.com");
  std::pair<int, std::string> answer;
  REQUIRE(WaitFor(std::chrono::seconds(15), [&] {
    answer = Get(listen, "web.example.com", "/index.html");
    return answer.first == 200;
  }));
  CHECK(answer.second == kPage);
  CHECK(Get(listen, "nosuch.example.com", "/").first == 404);
  CHECK(BalancerState(balancer)["health"] == "ok");
  // Anything else on the host (a copy, on a node that is also a worker) cannot rewrite the
  // upstream tables or read them: the control listener wants the agent's secret.
  {
    httplib::Client intruder("127.0.0.1", control);
    auto forged = intruder.Post("/starling/upstreams", R"({"generation":999,"sites":{}})",
                                "application/json");
    REQUIRE(forged);
    CHECK(forged->status == 403);
    auto peek = intruder.Get("/starling/state");
    REQUIRE(peek);
    CHECK(peek->status == 403);
    CHECK(Get(listen, "web.example.com", "/index.html").first == 200);
  }
  const uint64_t reloads = BalancerState(balancer)["reloads"];

  GetLoad load(listen, "web.example.com", "/index.html", kPage);
  auto patch = [&](const json& body) {
    auto patched = Cluster::Api(agents[0], "PATCH", "/v1/sites/web?ack=all-live", body.dump());
    REQUIRE(patched);
    INFO(patched->second.dump());
    REQUIRE(patched->first == 200);
  };

  // Up: a second copy joins the upstream with no reload.
  patch({{"min", 2}});
  REQUIRE(WaitFor(std::chrono::seconds(20), [&] { return Peers(balancer, "web") == 2; }));
  CHECK(BalancerState(balancer)["reloads"] == reloads);

  // Down: the copy that goes is drained from nginx first, then stopped.
  patch({{"min", 1}, {"max", 1}});
  std::vector<Copy> copies;
  REQUIRE(WaitFor(std::chrono::seconds(30), [&] {
    copies = Copies(cluster, "web");
    return copies.size() == 1 && Peers(balancer, "web") == 1;
  }));
  CHECK(AnyEvent(EventsOf(cluster, "copy.drained"), [](const json& e) {
    return e["site"] == "web" && e["confirmed"] == true && e["balancers"] == 1;
  }));
  CHECK(BalancerState(balancer)["reloads"] == reloads);
  INFO(load.failures());
  CHECK(load.failed() == 0);

  // A new domain: one reload, and it answers.
  patch({{"domains", {"web.example.com", "www.web.example.com"}}, {"max", 3}});
  REQUIRE(WaitFor(std::chrono::seconds(15),
                  [&] { return Get(listen, "www.web.example.com", "/index.html").first == 200; }));
  CHECK(BalancerState(balancer)["reloads"] == reloads + 1);

  // A worker killed with its copy: nginx retries the other copy; no GET fails.
  patch({{"min", 2}});
  REQUIRE(WaitFor(std::chrono::seconds(20), [&] { return Peers(balancer, "web") == 2; }));
  copies = Serving(cluster, "web");
  REQUIRE(copies.size() == 2);
  Cluster::Agent& victim = Named(cluster, copies[0].node);
  const int before = load.requests();
  Cluster::Kill(victim, SIGKILL);
  cluster.KillCopies(victim);
  // Its copy leaves the upstream once the worker is seen dead; requests keep flowing meanwhile.
  REQUIRE(WaitFor(std::chrono::seconds(15), [&] { return Peers(balancer, "web") == 1; }));
  REQUIRE(WaitFor(std::chrono::seconds(15), [&] { return load.requests() > before + 100; }));
  load.Stop();
  INFO(load.failures());
  CHECK(load.failed() == 0);
  CHECK(load.requests() > 200);

  // nginx's JSON access log names the site, the status and the copy that answered.
  std::ifstream log(cluster.dir() / "balancer" / "nginx" / "access.log");
  std::string line, last;
  while (std::getline(log, line)) last = line;
  const json entry = json::parse(last, nullptr, false);
  INFO(last);
  REQUIRE(entry.is_object());
  CHECK(entry["site"] == "web");
  CHECK(entry["status"] == 200);
  CHECK_THAT(entry["upstream"].get<std::string>(), Catch::Contains("127.0.0.1:"));
  // The agent follows that log into per-site totals (for metering): every GET above is there.
  REQUIRE(WaitFor(std::chrono::seconds(5), [&] {
    const json traffic = BalancerState(balancer)["traffic"];
    return traffic.contains("web") && traffic["web"]["2xx"].get<int>() >= load.requests();
  }));
  CHECK(BalancerState(balancer)["access_log_malformed"] == 0);

  // The balancer agent killed and started again: it ends the nginx its earlier run left (which
  // holds the listener) and serves through a new one; nothing of the old agent lingers in it.
  const int old_nginx = BalancerState(balancer)["nginx_pid"];
  Cluster::Kill(agents[2], SIGKILL);
  cluster.Start(agents[2]);
  REQUIRE(WaitFor(std::chrono::seconds(30), [&] {
    auto state = Cluster::Api(balancer, "GET", "/v1/balancer", "{}", 2);
    return state && state->first == 200 && state->second["nginx_pid"] != old_nginx &&
           Peers(balancer, "web") >= 1;
  }));
  CHECK(Get(listen, "web.example.com", "/index.html").first == 200);
  CHECK(Cluster::ReadAll("/proc/" + std::to_string(old_nginx) + "/cmdline")
            .find((cluster.dir() / "balancer").string()) == std::string::npos);
}

}  // namespace
}  // namespace starling::testing
