// [integration] stacks (issue 18, docs/STACKS.md): a stack is pushed as a root filesystem with
// its start command and docroot; a site's directory pushed on it becomes the top layer of its
// copies' roots (under runc, in a user namespace): the site's files at the docroot over the
// stack's, the stack's programs below; `stack ls` names the sites on each version; a new stack
// version leaves the site on the one it was pushed on until it is pushed again. A site's settings
// and secrets reach its copies (a change rolls them); a secret is sealed, never in clear.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "src/process/run.h"
#include "tests/integration/sites.h"

namespace starling::testing {
namespace {

// A small stack: busybox, a page of its own at the docroot, a file beside it, and a name that
// is not ASCII.
fs::path MiniStack(const fs::path& dir, const std::string& page) {
  const fs::path root = dir / "mini-stack";
  fs::remove_all(root);
  for (const char* sub : {"bin", "proc", "dev", "sys", "tmp", "var/www/html", "etc"}) {
    fs::create_directories(root / sub);
  }
  fs::copy_file("/bin/busybox", root / "bin/busybox");
  fs::create_symlink("busybox", root / "bin/sh");
  std::ofstream(root / "var/www/html/index.html") << page;
  std::ofstream(root / "var/www/html/stack.txt") << "from the stack\n";
  std::ofstream(root / "etc/stack-release") << page;
  // A name that is not ASCII (Debian's CA certificates have some): packed as the bytes it is,
  // whatever the CLI's locale.
  std::ofstream(root / "etc/F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.crt") << "cert";
  return root;
}

std::string Body(uint16_t port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2, 0);
  auto response = client.Get(path);
  return response && response->status == 200 ? response->body : "";
}

TEST_CASE("stacks: a site's tree layered on a stack serves over the stack's files",
          "[integration]") {
  REQUIRE(::geteuid() == 0);
  REQUIRE(process::InPath("runc"));
  Cluster cluster;
  auto& agent = cluster.Add("stacks-1", {}, "[copies]\nsingle_node = true\nstop_grace_s = 1\n");
  cluster.Start(agent);
  REQUIRE(cluster.WaitAllAlive(1, std::chrono::seconds(20)));
  const std::string cli = fmt::format("{} --api 127.0.0.1:{} ", STARLING_BINARY, agent.api_port);
  const std::string command = "'exec /bin/busybox httpd -f -p 127.0.0.1:$PORT -h /var/www/html'";

  // A site cannot be pushed on a stack that does not exist.
  const fs::path site = cluster.dir() / "shop-tree";
  fs::create_directories(site / "docs");
  std::ofstream(site / "index.html") << "the site's page\n";
  std::ofstream(site / "docs/about.html") << "about the shop\n";
  REQUIRE_THAT(RunCommand(cli + "site create shop --domain shop.example.com --ack local 2>&1"),
               Catch::Contains("created"));
  CHECK_THAT(RunCommand(cli + "image push shop " + site.string() +
                        " --stack mini --ack local 2>&1; echo exit=$?"),
             Catch::Contains("no stack 'mini'") && Catch::Contains("exit=3"));
  CHECK_THAT(
      RunCommand(cli + "stack push Mini " + site.string() + " --command x 2>&1; echo exit=$?"),
      Catch::Contains("stack name") && Catch::Contains("exit=2"));

  const std::string pushed = RunCommand("LC_ALL=C " + cli + "stack push mini " +
                                        MiniStack(cluster.dir(), "stack v1\n").string() +
                                        " --command " + command + " --ack local 2>&1");
  INFO(pushed);
  REQUIRE_THAT(pushed, Catch::Contains("stack mini version"));
  const std::string on_stack = RunCommand(cli + "image push shop " + site.string() +
                                          " --stack mini --ack local 2>&1; echo exit=$?");
  INFO(on_stack);
  REQUIRE_THAT(on_stack, Catch::Contains("exit=0"));

  // Its copy: the site's page over the stack's, the site's own files, the stack's below.
  REQUIRE(ServedFile(cluster, "shop", "/docs/about.html", std::chrono::seconds(40)) ==
          "about the shop\n");
  auto serving = Serving(cluster, "shop");
  REQUIRE(serving.size() == 1);
  CHECK(Body(serving[0].port, "/") == "the site's page\n");
  CHECK(Body(serving[0].port, "/stack.txt") == "from the stack\n");
  const std::string listed = RunCommand(cli + "stack ls 2>&1");
  CHECK_THAT(listed, Catch::Contains("mini") && Catch::Contains("/var/www/html") &&
                         Catch::Contains("shop"));

  // A new stack version: the running site stays on the one it was pushed on; pushed again, the
  // same tree is a new version of the site, on the new stack.
  const std::string first_version =
      Cluster::Api(agent, "GET", "/v1/images/shop")->second["versions"][0]["version"];
  REQUIRE_THAT(
      RunCommand(cli + "stack push mini " + MiniStack(cluster.dir(), "stack v2\n").string() +
                 " --command " + command + " --ack local 2>&1"),
      Catch::Contains("stack mini version"));
  auto stacks = Cluster::Api(agent, "GET", "/v1/stacks");
  REQUIRE(stacks);
  REQUIRE(stacks->second["stacks"].size() == 1);
  const json versions = stacks->second["stacks"][0]["versions"];
  REQUIRE(versions.size() == 2);
  CHECK(versions[0]["sites"].empty());  // the new one: no site yet
  CHECK(versions[1]["sites"] == json::array({"shop"}));
  REQUIRE_THAT(
      RunCommand(cli + "image push shop " + site.string() + " --stack mini --ack local 2>&1"),
      Catch::Contains("shop version"));
  const std::string second_version =
      Cluster::Api(agent, "GET", "/v1/images/shop")->second["versions"][0]["version"];
  CHECK(second_version != first_version);
  const bool rolled = WaitFor(std::chrono::seconds(40), [&] {
    serving = Serving(cluster, "shop");
    return serving.size() == 1 && Body(serving[0].port, "/stack.txt") == "from the stack\n" &&
           Cluster::Api(agent, "GET", "/v1/copies")->second["copies"][0]["version"] ==
               second_version;
  });
  INFO(Events(cluster));
  CHECK(rolled);
}

TEST_CASE("site settings and secrets reach its copies; a secret is never in the log in clear",
          "[integration]") {
  REQUIRE(::geteuid() == 0);
  REQUIRE(process::InPath("runc"));
  Cluster cluster;
  auto& agent = cluster.Add("settings-1", {}, "[copies]\nsingle_node = true\nstop_grace_s = 1\n");
  cluster.Start(agent);
  REQUIRE(cluster.WaitAllAlive(1, std::chrono::seconds(20)));
  const std::string cli = fmt::format("{} --api 127.0.0.1:{} ", STARLING_BINARY, agent.api_port);
  const fs::path tree = cluster.dir() / "env-image";
  for (const char* sub : {"bin", "www", "proc", "dev", "sys", "tmp"})
    fs::create_directories(tree / sub);
  fs::copy_file("/bin/busybox", tree / "bin/busybox");
  fs::create_symlink("busybox", tree / "bin/sh");
  const std::string secret = "s3cr3t-" + std::to_string(::getpid());
  REQUIRE_THAT(RunCommand(cli + "site create app --domain app.example.com --env GREETING=hello "
                                "--ack local 2>&1"),
               Catch::Contains("env      GREETING=hello"));
  REQUIRE_THAT(
      RunCommand(cli + "image push app " + tree.string() +
                 " --command 'echo started; echo \"$GREETING $TOKEN\" > /www/env.txt; "
                 "/bin/busybox cp /etc/resolv.conf /www/resolv.txt; (echo x >> /etc/resolv.conf) "
                 "2>/dev/null || echo read-only > /www/resolv-ro.txt; "
                 "(i=0; while [ $i -lt 600 ]; do echo tick $i; i=$((i+1)); /bin/busybox sleep "
                 "0.2; done) & exec /bin/busybox httpd -f -p 127.0.0.1:$PORT -h /www' "
                 "--ack local 2>&1"),
      Catch::Contains("app version"));
  CHECK(ServedFile(cluster, "app", "/env.txt", std::chrono::seconds(30)) == "hello \n");
  // The host's resolver, read-only (a site may call out by name).
  if (fs::exists("/etc/resolv.conf")) {
    CHECK(ServedFile(cluster, "app", "/resolv.txt", std::chrono::seconds(5)) ==
          Cluster::ReadAll("/etc/resolv.conf"));
    CHECK(ServedFile(cluster, "app", "/resolv-ro.txt", std::chrono::seconds(5)) == "read-only\n");
  }
  // A secret and a changed setting: the copy is rolled and gets both.
  const std::string updated =
      RunCommand(cli + "site update app --env GREETING=hi --secret TOKEN=" + secret +
                 " --ack local 2>&1; echo exit=$?");
  INFO(updated);
  CHECK_THAT(updated, Catch::Contains("secret   TOKEN (sealed)") && Catch::Contains("exit=0"));
  CHECK_THAT(updated, !Catch::Contains(secret));
  std::optional<std::string> seen;
  CHECK(WaitFor(std::chrono::seconds(30), [&] {
    seen = ServedFile(cluster, "app", "/env.txt", std::chrono::seconds(2));
    return seen == "hi " + secret + "\n";
  }));
  CHECK_THAT(RunCommand(cli + "site show app --json"), !Catch::Contains(secret));
  // Nowhere in the node's state in clear (the log's write-ahead file included).
  CHECK(RunCommand("grep -rl " + secret + " " + (cluster.dir() / agent.name).string() +
                   " --exclude-dir=copies 2>/dev/null | wc -l") == "0\n");
  // Bad names are refused and change nothing.
  CHECK_THAT(RunCommand(cli + "site update app --env PORT=80 --ack local 2>&1; echo exit=$?"),
             Catch::Contains("PORT is the copy's own") && Catch::Contains("exit=2"));
  CHECK_THAT(RunCommand(cli + "site update app --env 'A B=1' --ack local 2>&1; echo exit=$?"),
             Catch::Contains("not a variable name") && Catch::Contains("exit=2"));
  // What the copy printed, through every node's API (its log).
  const std::string logged = RunCommand(cli + "logs app --lines 10000 2>&1");
  CHECK_THAT(logged, Catch::Contains("settings-1 starling-app-") && Catch::Contains("| started"));
  CHECK_THAT(RunCommand(cli + "logs app --node elsewhere 2>&1"), Catch::Contains("no copy of app"));
  // Followed: what the copy writes next (a tick each 0.2 s), each line once.
  const std::string followed = RunCommand("timeout 3 " + cli + "logs app --follow --lines 1");
  std::set<std::string> ticks;
  size_t tick_lines = 0;
  std::istringstream lines(followed);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("| tick ") == std::string::npos) continue;
    ++tick_lines;
    ticks.insert(line);
  }
  INFO(followed);
  CHECK(tick_lines >= 5);
  CHECK(ticks.size() == tick_lines);
  CHECK_THAT(RunCommand(cli + "logs Bad_Name 2>&1; echo exit=$?"), Catch::Contains("exit=2"));
  // Removed: the copy no longer has it.
  RunCommand(cli + "site update app --unset-secret TOKEN --ack local");
  CHECK(WaitFor(std::chrono::seconds(30), [&] {
    return ServedFile(cluster, "app", "/env.txt", std::chrono::seconds(2)) == "hi \n";
  }));
}

}  // namespace
}  // namespace starling::testing
