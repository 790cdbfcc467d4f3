// A copy's code reaches nothing of the node it runs on (issue 16): copies share the host's
// network, and before the copies' firewall (src/copies/firewall.h) a site's code called the
// agent's API on 127.0.0.1 and was answered. Here a copy under runc probes the agent's API and
// gossip ports from inside and serves what it found; the copy itself still serves.
#include <unistd.h>

#include <catch2/catch.hpp>

#include "src/process/run.h"
#include "tests/integration/sites.h"

namespace starling::testing {
namespace {

// An image whose start command first tries the given ports on loopback, writing "NAME reached" or
// "NAME refused" for each to /www/probe.txt, then serves /www.
json ProbeImage(const fs::path& dir, const std::vector<std::pair<std::string, uint16_t>>& ports) {
  const fs::path tree = dir / "probe-image";
  for (const char* sub : {"bin", "www", "proc", "dev", "sys", "tmp"}) {
    fs::create_directories(tree / sub);
  }
  fs::copy_file("/bin/busybox", tree / "bin/busybox", fs::copy_options::overwrite_existing);
  if (!fs::is_symlink(tree / "bin/sh")) fs::create_symlink("busybox", tree / "bin/sh");
  std::string script = ": > /www/probe.txt; ";
  for (const auto& [name, port] : ports) {
    script += fmt::format(
        "if /bin/busybox nc -w 2 127.0.0.1 {1} </dev/null >/dev/null 2>&1; "
        "then echo '{0} reached' >> /www/probe.txt; "
        "else echo '{0} refused' >> /www/probe.txt; fi; ",
        name, port);
  }
  script += "exec /bin/busybox httpd -f -p 127.0.0.1:$PORT -h /www";
  return {{"path", tree.string()}, {"command", {"/bin/busybox", "sh", "-c", script}}};
}

TEST_CASE("Copies: a copy's code reaches neither the agent's API nor its gossip port",
          "[security]") {
  REQUIRE(::geteuid() == 0);
  REQUIRE(process::InPath("runc"));
  REQUIRE((process::InPath("nft") || fs::exists("/usr/sbin/nft")));
  Cluster cluster;
  auto& agent = cluster.Add("isolated-1", {}, "[copies]\nsingle_node = true\nstop_grace_s = 1\n");
  cluster.Start(agent);
  REQUIRE(WaitFor(std::chrono::seconds(20), [&] { return cluster.AllAlive(1); }));

  auto copies = Cluster::Api(agent, "GET", "/v1/copies");
  REQUIRE(copies);
  INFO(copies->second.dump());
  REQUIRE(copies->second["isolation"]["mode"] == "nftables");
  REQUIRE(copies->second["isolation"]["ready"] == true);

  auto created = Cluster::Api(agent, "POST", "/v1/sites?ack=local",
                              json{{"name", "probe"}, {"domains", {"probe.example.com"}}}.dump());
  REQUIRE(created);
  REQUIRE(created->first == 200);
  const json push =
      ProbeImage(cluster.dir(), {{"api", agent.api_port}, {"gossip", agent.gossip_port}});
  auto pushed = Cluster::Api(agent, "POST", "/v1/images/probe?ack=local", push.dump(), 60);
  REQUIRE(pushed);
  INFO(pushed->second.dump());
  REQUIRE(pushed->first == 200);

  // The copy serves (answers on a connection made to it pass), and says what it reached.
  std::string found;
  const bool served = WaitFor(std::chrono::seconds(40), [&] {
    for (const auto& copy : Serving(cluster, "probe")) {
      httplib::Client client("127.0.0.1", copy.port);
      client.set_connection_timeout(1, 0);
      auto response = client.Get("/probe.txt");
      if (response && response->status == 200 &&
          response->body.find("gossip") != std::string::npos) {
        found = response->body;
        return true;
      }
    }
    return false;
  });
  INFO(Events(cluster));
  REQUIRE(served);
  CHECK(found == "api refused\ngossip refused\n");
  // The agent itself still answers on the port the copy could not reach.
  auto self = Cluster::Api(agent, "GET", "/v1/self");
  REQUIRE(self);
  CHECK(self->first == 200);
}

}  // namespace
}  // namespace starling::testing
