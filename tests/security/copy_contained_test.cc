// A copy's code is contained (issue 16), checked from inside copies under runc that probe and
// then serve what they found:
// - it reaches nothing of the node it runs on: copies share the host's network, and before the
//   copies' firewall (src/copies/firewall.h) a site's code called the agent's API on 127.0.0.1
//   and was answered; now its connections to the API and gossip ports are refused, and the copy
//   still serves;
// - it makes no namespaces (src/copies/seccomp.h): before the seccomp profile, `unshare -U` gave
//   a site's code a user namespace of its own;
// - its root is no root of the host (src/copies/id_range.h): it runs in a user namespace whose
//   root is an unprivileged host uid, and what it writes belongs to that uid on the host.
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <sstream>

#include "src/process/run.h"
#include "tests/integration/sites.h"

namespace starling::testing {
namespace {

// An image whose start command runs `probe` (sh, writing its findings to /www/probe.txt), then
// serves /www.
json ProbeImage(const fs::path& dir, const std::string& probe) {
  const fs::path tree = dir / "probe-image";
  for (const char* sub : {"bin", "www", "proc", "dev", "sys", "tmp"}) {
    fs::create_directories(tree / sub);
  }
  fs::copy_file("/bin/busybox", tree / "bin/busybox", fs::copy_options::overwrite_existing);
  if (!fs::is_symlink(tree / "bin/sh")) fs::create_symlink("busybox", tree / "bin/sh");
  const std::string script = ": > /www/probe.txt; " + probe +
                             "/bin/busybox cat /proc/self/uid_map > /www/uid_map.txt; "
                             "exec /bin/busybox httpd -f -p 127.0.0.1:$PORT -h /www";
  return {{"path", tree.string()}, {"command", {"/bin/busybox", "sh", "-c", script}}};
}

// A probe line: runs `command`, writing "NAME reached" or "NAME refused" by its exit status.
std::string Probe(const std::string& name, const std::string& command) {
  return fmt::format(
      "if {1} </dev/null >/dev/null 2>&1; then echo '{0} reached' >> /www/probe.txt; "
      "else echo '{0} refused' >> /www/probe.txt; fi; ",
      name, command);
}

// Creates `site` on `agent` and pushes `image` to it.
void CreateAndPush(Cluster::Agent& agent, const std::string& site, const json& image) {
  auto created = Cluster::Api(agent, "POST", "/v1/sites?ack=local",
                              json{{"name", site}, {"domains", {site + ".example.com"}}}.dump());
  REQUIRE(created);
  REQUIRE(created->first == 200);
  auto pushed = Cluster::Api(agent, "POST", "/v1/images/" + site + "?ack=local", image.dump(), 60);
  REQUIRE(pushed);
  INFO(pushed->second.dump());
  REQUIRE(pushed->first == 200);
}

// Creates site "probe" with `image` on `agent`, and returns what its copy's probe found.
std::string RunProbe(Cluster& cluster, Cluster::Agent& agent, const json& image) {
  CreateAndPush(agent, "probe", image);
  // The copy serves (answers on a connection made to it pass), and says what it found.
  const std::optional<std::string> found =
      ServedFile(cluster, "probe", "/probe.txt", std::chrono::seconds(40));
  INFO(Events(cluster));
  REQUIRE(found);
  return *found;
}

// A place outside the node for a copy to reach (the positive control): a network namespace of
// the test's own, over a veth pair, 10.201.0.2, where a listener takes one connection on 8099.
// Ended (the listener by its PID, the namespace and pair by name) when it goes.
class Outside {
 public:
  Outside()
      : ns_("st-out-" + std::to_string(::getpid())), link_("sto" + std::to_string(::getpid())) {
    const std::string in_ns = "ip netns exec " + ns_ + " ";
    for (const std::string& command :
         {"ip netns add " + ns_, "ip link add " + link_ + "a type veth peer name " + link_ + "b",
          "ip link set " + link_ + "b netns " + ns_, "ip addr add 10.201.0.1/30 dev " + link_ + "a",
          "ip link set " + link_ + "a up", in_ns + "ip addr add 10.201.0.2/30 dev " + link_ + "b",
          in_ns + "ip link set " + link_ + "b up", in_ns + "ip link set lo up"}) {
      REQUIRE(std::system((command + " >/dev/null 2>&1").c_str()) == 0);
    }
    const std::vector<std::string> argv = {
        "nsenter",  "--net=/run/netns/" + ns_, "--", "/bin/busybox", "nc", "-l", "-p", "8099", "-e",
        "/bin/true"};
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    REQUIRE(::posix_spawnp(&listener_, "nsenter", nullptr, nullptr, args.data(), environ) == 0);
  }
  ~Outside() {
    ::kill(listener_, SIGKILL);
    ::waitpid(listener_, nullptr, 0);
    (void)!std::system(("ip link del " + link_ + "a >/dev/null 2>&1").c_str());
    (void)!std::system(("ip netns del " + ns_ + " >/dev/null 2>&1").c_str());
  }

 private:
  std::string ns_, link_;
  pid_t listener_ = -1;
};

// One agent (root, runc), a cluster of its own, alive.
Cluster::Agent& StartOne(Cluster& cluster, const std::string& name) {
  REQUIRE(::geteuid() == 0);
  REQUIRE(process::InPath("runc"));
  auto& agent = cluster.Add(name, {}, "[copies]\nsingle_node = true\nstop_grace_s = 1\n");
  cluster.Start(agent);
  REQUIRE(WaitFor(std::chrono::seconds(20), [&] { return cluster.AllAlive(1); }));
  return agent;
}

TEST_CASE("Copies: a copy's code reaches neither the agent's API nor its gossip port",
          "[security]") {
  REQUIRE((process::InPath("nft") || fs::exists("/usr/sbin/nft")));
  Cluster cluster;
  auto& agent = StartOne(cluster, "isolated-1");

  auto copies = Cluster::Api(agent, "GET", "/v1/copies");
  REQUIRE(copies);
  INFO(copies->second.dump());
  REQUIRE(copies->second["isolation"]["mode"] == "nftables");
  REQUIRE(copies->second["isolation"]["ready"] == true);

  Outside outside;
  const std::string found = RunProbe(
      cluster, agent,
      ProbeImage(
          cluster.dir(),
          Probe("api", fmt::format("/bin/busybox nc -w 2 127.0.0.1 {}", agent.api_port)) +
              Probe("gossip", fmt::format("/bin/busybox nc -w 2 127.0.0.1 {}", agent.gossip_port)) +
              Probe("outside", "/bin/busybox nc -w 2 10.201.0.2 8099")));
  // The world beyond the node and its members stays reachable (the probe itself works).
  CHECK(found == "api refused\ngossip refused\noutside reached\n");
  // The agent itself still answers on the port the copy could not reach.
  auto self = Cluster::Api(agent, "GET", "/v1/self");
  REQUIRE(self);
  CHECK(self->first == 200);
}

TEST_CASE("Copies: a copy's code makes no namespaces and runs under seccomp", "[security]") {
  Cluster cluster;
  auto& agent = StartOne(cluster, "contained-1");
  json image = ProbeImage(
      cluster.dir(),
      // A server that opens its stderr again (Apache's ErrorLog /dev/stderr) opens the copy's log
      // file, which its root must own in its user namespace.
      std::string("if echo logged > /dev/stderr; then echo 'stderr reached' >> /www/probe.txt; "
                  "else echo 'stderr refused' >> /www/probe.txt; fi; ") +
          Probe("filtered", "/bin/busybox grep -q '^Seccomp:.*2' /proc/self/status") +
          Probe("userns", "/bin/busybox unshare -U /bin/busybox true") +
          Probe("clone", "/bin/clone-probe") +
          Probe("netns", "/bin/busybox unshare -n /bin/busybox true") +
          Probe("mount", "/bin/busybox mount -t tmpfs none /tmp") +
          Probe("threads", "/bin/busybox true & wait") +
          Probe("env", "[ \"$PROBE_ENV\" = pushed ]"));
  image["env"] = {{"PROBE_ENV", "pushed"}};
  // clone(CLONE_NEWUSER) called directly: the filter's rules on clone's flags, not unshare's.
  fs::copy_file(STARLING_CLONE_PROBE,
                fs::path(image["path"].get<std::string>()) / "bin/clone-probe",
                fs::copy_options::overwrite_existing);
  const std::string found = RunProbe(cluster, agent, image);
  // "threads": an ordinary fork still works (clone without namespace flags).
  // "env": the push's --env reaches the copy's start command. "stderr": its log reopened.
  CHECK(found ==
        "stderr reached\nfiltered reached\nuserns refused\nclone refused\nnetns refused\nmount "
        "refused\n"
        "threads reached\nenv reached\n");

  // Its root is the first id of an unprivileged range of the host's, far above its users.
  const auto serving = Serving(cluster, "probe");
  REQUIRE(serving.size() == 1);
  httplib::Client client("127.0.0.1", serving[0].port);
  auto map = client.Get("/uid_map.txt");
  REQUIRE(map);
  std::istringstream fields(map->body);
  uint64_t inside = 1, outside = 0, count = 0;
  fields >> inside >> outside >> count;
  INFO(map->body);
  CHECK(inside == 0);
  CHECK(outside >= (uint64_t{1} << 24));
  CHECK(count == 65536);
  // What it wrote (its probe's findings) is that uid's on the host, not root's.
  bool checked = false;
  for (const auto& entry :
       fs::recursive_directory_iterator(cluster.dir() / agent.name / "copies")) {
    if (entry.path().filename() != "probe.txt" ||
        entry.path().parent_path().parent_path().filename() != "upper") {
      continue;
    }
    struct stat info {};
    REQUIRE(::stat(entry.path().c_str(), &info) == 0);
    CHECK(info.st_uid == outside);
    CHECK(info.st_gid == outside);
    checked = true;
  }
  CHECK(checked);
}

TEST_CASE("Copies: a copy that cannot start says why and leaves nothing behind", "[security]") {
  Cluster cluster;
  auto& agent = StartOne(cluster, "failing-1");
  json image = ProbeImage(cluster.dir(), "");
  image["command"] = {"/bin/no-such-program"};
  CreateAndPush(agent, "broken", image);
  std::vector<json> failed;
  REQUIRE(WaitFor(std::chrono::seconds(30), [&] {
    failed = EventsOf(cluster, "copy.start_failed");
    return !failed.empty();
  }));
  INFO(failed[0].dump());
  // The runtime's own words, in the event.
  CHECK(failed[0]["text"].get<std::string>().find("no-such-program") != std::string::npos);
  // Nothing of the copy is left: no directory, nothing mounted.
  const fs::path copies = cluster.dir() / agent.name / "copies";
  CHECK(WaitFor(std::chrono::seconds(5), [&] {
    for (const auto& entry : fs::directory_iterator(copies)) {
      if (entry.path().filename().string().starts_with("starling-broken-")) return false;
    }
    return true;
  }));
}

}  // namespace
}  // namespace starling::testing
