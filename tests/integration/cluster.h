// tests/integration/cluster.h — real `starling agent` processes on loopback for [integration]
// tests. Every wait is on a condition with a deadline; processes are ended by their PID.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "src/agent/config.h"
#include "src/copies/firewall.h"
#include "tests/integration/credential.h"

extern char** environ;

namespace starling::testing {

using json = nlohmann::json;
namespace fs = std::filesystem;

// A port free for both TCP and UDP on 127.0.0.1 right now, and never handed out before in this
// process (the kernel may offer a port again while the agent it was meant for has not bound it).
inline uint16_t FreePort() {
  static std::set<uint16_t> handed_out;
  for (int attempt = 0; attempt < 100; ++attempt) {
    int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    ::bind(tcp, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    ::getsockname(tcp, reinterpret_cast<sockaddr*>(&address), &length);
    int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
    const bool udp_free = ::bind(udp, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    ::close(udp);
    ::close(tcp);
    if (udp_free && handed_out.insert(ntohs(address.sin_port)).second) {
      return ntohs(address.sin_port);
    }
  }
  FAIL("no free port");
  return 0;
}

inline bool WaitFor(std::chrono::milliseconds deadline, const std::function<bool()>& condition) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling interval, not a wait
  }
  return condition();
}

inline std::string RunCommand(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, n);
  ::pclose(pipe);
  return output;
}

class Cluster {
 public:
  struct Agent {
    std::string name;
    uint16_t gossip_port = 0, api_port = 0;
    fs::path config, log;
    pid_t pid = -1;
    fs::path key_file;
    std::string extra;
    bool started = false;
    std::string host = "127.0.0.1";  // its address: loopback, or eth0 in a NetLab namespace
    std::string netns;               // the namespace it runs in (NetLab), or none
  };

  // `netlab`: the lab's name (NetLab) — agent I runs in namespace NAME-I at 10.77.0.I.
  explicit Cluster(std::string netlab = "") : netlab_(std::move(netlab)) {
    char pattern[] = "/tmp/starling-it-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    dir_ = pattern;
    // Copies run in user namespaces, as users who pass through here to reach their roots.
    fs::permissions(dir_, fs::perms(0711));
    key_ = RunCommand(std::string(STARLING_BINARY) + " keygen");
    WriteKeyFile(dir_ / "key", key_);
    ::setenv("STARLING_KEY_FILE", (dir_ / "key").c_str(), 1);  // the tests' and the CLI's key
  }
  ~Cluster() {
    for (auto& agent : agents_) {
      Kill(agent, SIGKILL);
      KillCopies(agent, /*remove=*/true);
      KillNginx(agent);
      KillDatabase(agent, SIGKILL);
      KillFiles(agent);
      // A killed agent leaves its copies' firewall (a lab namespace goes with its rules).
      if (agent.netns.empty()) {
        const std::string removal =
            "nft delete table inet " + copies::FirewallTableFor(agent.name) + " >/dev/null 2>&1";
        (void)!std::system(removal.c_str());
      }
    }
    UnmountUnder(dir_);
    if (std::getenv("STARLING_KEEP_TEST_DIR") != nullptr) {
      std::fprintf(stderr, "kept %s\n", dir_.c_str());
      return;
    }
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // `extra` is appended to the agent's TOML (e.g. an [images] table).
  Agent& Add(const std::string& name, const fs::path& key_file = {},
             const std::string& extra = "") {
    Agent agent;
    agent.name = name;
    agent.gossip_port = FreePort();
    agent.api_port = FreePort();
    agent.config = dir_ / (name + ".toml");
    agent.log = dir_ / (name + ".log");
    agent.key_file = key_file.empty() ? dir_ / "key" : key_file;
    agent.extra = extra;
    if (!netlab_.empty()) {
      const size_t index = agents_.size() + 1;
      agent.host = "10.77.0." + std::to_string(index);
      agent.netns = netlab_ + "-" + std::to_string(index);
    }
    WriteConfig(agent, agents_);  // joins every earlier agent
    agents_.push_back(agent);
    return agents_.back();
  }

  // A restart joins whoever else may be alive now, unless `rejoin` is false: then it runs with
  // the configuration it first had (the first agent joins no one).
  void Start(Agent& agent, bool rejoin = true) {
    if (agent.started && rejoin) {
      std::vector<Agent> others;
      for (const auto& other : agents_) {
        if (other.name != agent.name) others.push_back(other);
      }
      WriteConfig(agent, others);
    }
    agent.started = true;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, agent.log.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    // In a lab namespace through nsenter, which changes only the network namespace and then
    // execs the agent (same pid).
    std::vector<std::string> args = {STARLING_BINARY, "agent", "--config", agent.config.string()};
    if (!agent.netns.empty()) {
      args.insert(args.begin(), {"nsenter", "--net=/run/netns/" + agent.netns, "--"});
    }
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    REQUIRE(posix_spawnp(&agent.pid, argv[0], &actions, nullptr, argv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&actions);
  }

  static void Kill(Agent& agent, int signal) {
    if (agent.pid <= 0) return;
    ::kill(agent.pid, signal);
    int status = 0;
    ::waitpid(agent.pid, &status, 0);
    agent.pid = -1;
  }

  // What a dead server leaves: every copy the agent ran is killed at once (runc's containers
  // under its data dir, or the process driver's sessions), as if the machine lost power.
  // `remove` also deletes the runtime's record of them (and their cgroups).
  void KillCopies(const Agent& agent, bool remove = false) const {
    const fs::path runtime = dir_ / agent.name / "runtime";
    if (!fs::exists(runtime)) return;
    for (const char* tool : {"runc", "crun"}) {
      const std::string root = std::string(tool) + " --root " + runtime.string();
      const std::string ids = RunCommand(root + " list -q 2>/dev/null");
      std::istringstream lines(ids);
      for (std::string id; std::getline(lines, id);) {
        if (id.empty()) continue;
        RunCommand(root + " kill --all " + id + " KILL 2>/dev/null");
        if (remove) RunCommand(root + " delete --force " + id + " 2>/dev/null");
      }
    }
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(runtime, ec)) {
      if (entry.path().extension() != ".pid") continue;
      std::ifstream pid_file(entry.path());
      long pid = 0;
      if (pid_file >> pid && pid > 1) ::kill(-static_cast<pid_t>(pid), SIGKILL);
    }
  }

  // The nginx and keepalived a balancer agent killed with SIGKILL left running.
  void KillNginx(const Agent& agent, int signal = SIGTERM) const {
    KillByPidFile(dir_ / agent.name / "nginx" / "nginx.pid", dir_ / agent.name / "nginx", signal);
    for (const char* file : {"keepalived.pid", "vrrp.pid"}) {
      KillByPidFile(dir_ / agent.name / "keepalived" / file, dir_ / agent.name, signal);
    }
  }

  // The agent's mariadbd and its copies' database endpoint (sessions of their own: they outlive
  // a killed agent, as on a machine).
  void KillDatabase(const Agent& agent, int signal = SIGKILL) const {
    KillByPidFile(dir_ / agent.name / "mariadb" / "mariadbd.pid", dir_ / agent.name, signal);
    KillByPidFile(dir_ / agent.name / "db-endpoint" / "haproxy.pid", dir_ / agent.name, signal);
  }

  // The agent's glusterd, the bricks and daemons it started, and its mount's FUSE client
  // (daemons of their own: they outlive a killed agent, as on a machine). Found by their pid
  // files, or (the client) by the mount point on their command line.
  void KillFiles(const Agent& agent) const {
    const fs::path base = dir_ / agent.name / "glusterfs";
    KillByPidFile(base / "glusterd.child.pid", base, SIGKILL);
    std::error_code ec;
    for (fs::recursive_directory_iterator it(base / "run", ec), end; !ec && it != end;
         it.increment(ec)) {
      if (it->path().extension() != ".pid") continue;
      // Daemons that are not always their group's leader (the self-heal daemon): by pid.
      std::ifstream pid_file(it->path());
      long pid = 0;
      if (pid_file >> pid && pid > 1 &&
          ReadAll("/proc/" + std::to_string(pid) + "/cmdline").find(base.string()) !=
              std::string::npos) {
        ::kill(static_cast<pid_t>(pid), SIGKILL);
      }
    }
    // Then any gluster process naming this agent's directories (its mount's client, a daemon
    // glusterd respawned while the others were being ended), until none is left.
    const std::string mine = (dir_ / agent.name).string() + "/";
    WaitFor(std::chrono::seconds(5), [&] {
      bool found = false;
      std::error_code error;
      for (const auto& entry : fs::directory_iterator("/proc", error)) {
        const std::string pid = entry.path().filename().string();
        if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
        const std::string command = ReadAll("/proc/" + pid + "/cmdline");
        if (command.starts_with("/usr/sbin/gluster") && command.find(mine) != std::string::npos) {
          ::kill(static_cast<pid_t>(std::stol(pid)), SIGKILL);
          found = true;
        }
      }
      return !found;
    });
  }

  // The process a pid file names, if its command line mentions `marker` (so a reused pid is
  // left alone): `signal`, bounded wait.
  static void KillByPidFile(const fs::path& file, const fs::path& marker, int signal) {
    std::ifstream pid_file(file);
    long pid = 0;
    if (!(pid_file >> pid) || pid <= 1) return;
    std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
    std::string command((std::istreambuf_iterator<char>(cmdline)),
                        std::istreambuf_iterator<char>());
    if (command.find(marker.string()) == std::string::npos) return;
    ::kill(-static_cast<pid_t>(pid), signal);  // its process group: nginx's workers too
    WaitFor(std::chrono::seconds(5), [&] {
      return !fs::exists("/proc/" + std::to_string(pid) + "/cmdline") ||
             ReadAll("/proc/" + std::to_string(pid) + "/cmdline").empty();
    });
  }

  // The last `lines` lines of a file.
  static std::string Tail(const fs::path& path, int lines) {
    const std::string text = ReadAll(path.string());
    size_t start = text.size();
    for (int line = 0; line < lines && start > 0; ++line) {
      start = text.rfind('\n', start - 1);
      if (start == std::string::npos) start = 0;
    }
    return text.substr(start);
  }

  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  // Copies' overlay mounts an agent killed with SIGKILL left behind (deepest first).
  static void UnmountUnder(const fs::path& dir) {
    std::ifstream mounts("/proc/self/mounts");
    std::vector<std::string> points;
    std::string device, point, rest;
    while (mounts >> device >> point && std::getline(mounts, rest)) {
      if (point.starts_with(dir.string() + "/")) points.push_back(point);
    }
    std::sort(points.rbegin(), points.rend());
    for (const auto& mounted : points) ::umount2(mounted.c_str(), MNT_DETACH);
  }

  // A client of an agent's API: HTTPS where its configuration says the agent serves it,
  // trusting the cluster's CA the agent wrote to its data dir.
  static httplib::Client ApiClient(const Agent& agent) {
    auto config = starling::agent::LoadConfig(agent.config.string());
    const bool tls = config.ok() && starling::agent::ApiUsesTls(*config);
    httplib::Client client((tls ? "https://" : "http://") +
                           starling::agent::HostPort{agent.host, agent.api_port}.ToString());
    if (tls) {
      client.set_ca_cert_path((agent.config.parent_path() / agent.name / "api-ca.pem").string());
      client.enable_server_certificate_verification(true);
    }
    return client;
  }

  static std::optional<json> Members(const Agent& agent) {
    httplib::Client client = ApiClient(agent);
    client.set_connection_timeout(1, 0);
    client.set_read_timeout(2, 0);
    auto response = AuthorizedCall(client, "GET", "/v1/members", "", agent.key_file);
    if (!response || response->status != 200) return std::nullopt;
    return json::parse(response->body);
  }

  // name → (status, incarnation) as `observer` sees them.
  static std::map<std::string, std::pair<std::string, unsigned>> View(const Agent& observer) {
    std::map<std::string, std::pair<std::string, unsigned>> view;
    if (auto members = Members(observer)) {
      for (const auto& m : (*members)["members"]) {
        view[m["name"]] = {m["status"], m["incarnation"]};
      }
    }
    return view;
  }

  // True when every agent sees exactly `n` members, all alive.
  bool AllAlive(size_t n) {
    for (auto& observer : agents_) {
      auto view = View(observer);
      if (view.size() != n) return false;
      for (auto& [name, state] : view) {
        if (state.first != "alive") return false;
      }
    }
    return true;
  }

  // AllAlive(n) within `deadline`; if not, says what each agent sees, whether its process still
  // runs, and the end of its log (so a CI failure shows why).
  bool WaitAllAlive(size_t n, std::chrono::seconds deadline) {
    if (WaitFor(deadline, [&] { return AllAlive(n); })) return true;
    for (auto& agent : agents_) {
      std::string report = fmt::format("{} (pid {}, {}) sees:", agent.name, agent.pid,
                                       Running(agent) ? "running" : "not running");
      for (const auto& [name, state] : View(agent)) {
        report += fmt::format(" {}={}/{}", name, state.first, state.second);
      }
      WARN(report << "\nits log ends:\n" << Tail(agent.log, 15));
    }
    return false;
  }

  // Whether the agent's process has not exited (reaped here if it has).
  static bool Running(Agent& agent) {
    if (agent.pid <= 0) return false;
    int status = 0;
    if (::waitpid(agent.pid, &status, WNOHANG) == 0) return true;
    agent.pid = -1;
    return false;
  }

  // A request to an agent's API; the parsed body (any status), or nothing when it did not answer.
  static std::optional<std::pair<int, json>> Api(const Agent& agent, const std::string& method,
                                                 const std::string& path,
                                                 const std::string& body = "{}",
                                                 int read_timeout_s = 10) {
    httplib::Client client = ApiClient(agent);
    client.set_connection_timeout(1, 0);
    client.set_read_timeout(read_timeout_s, 0);
    const bool bodyless = method == "GET" || method == "DELETE";
    httplib::Result response =
        AuthorizedCall(client, method, path, bodyless ? "" : body, agent.key_file);
    if (!response) return std::nullopt;
    auto parsed = json::parse(response->body, nullptr, false);
    if (parsed.is_discarded()) parsed = json(response->body);
    return std::make_pair(response->status, parsed);
  }

  // One value of the agent's /metrics, e.g. `starling_image_chunks_total{kind="fetched"}`.
  static std::optional<uint64_t> Metric(const Agent& agent, const std::string& series) {
    httplib::Client client = ApiClient(agent);
    client.set_connection_timeout(1, 0);
    client.set_read_timeout(2, 0);
    auto response = AuthorizedCall(client, "GET", "/metrics", "", agent.key_file);
    if (!response || response->status != 200) return std::nullopt;
    const std::string needle = "\n" + series + " ";
    const auto at = ("\n" + response->body).find(needle);
    if (at == std::string::npos) return std::nullopt;
    return std::stoull(response->body.substr(at + needle.size() - 1));
  }

  std::vector<Agent>& agents() { return agents_; }

  void WriteConfig(const Agent& agent, const std::vector<Agent>& join) {
    std::ofstream config(agent.config);
    config << "node_name = \"" << agent.name << "\"\n"
           << "bind = \"" << agent.host << ":" << agent.gossip_port << "\"\n"
           << "api = \"" << agent.host << ":" << agent.api_port << "\"\n"
           << "key_file = \"" << agent.key_file.string() << "\"\n"
           << "data_dir = \"" << (dir_ / agent.name).string() << "\"\n"
           << "log_level = \"debug\"\n";
    if (!join.empty()) {
      config << "join = [";
      for (size_t i = 0; i < join.size(); ++i) {
        config << (i > 0 ? ", " : "") << "\"" << join[i].host << ":" << join[i].gossip_port << "\"";
      }
      config << "]\n";
    }
    // A copy port range per agent: agents sharing a host would otherwise pick the same free
    // port at once, and one copy dies with "Address already in use" (in production each
    // machine runs one agent).
    size_t index = 0;
    while (index < agents_.size() && agents_[index].name != agent.name) ++index;
    const std::string ports = "ports = \"" + std::to_string(30000 + 100 * index) + "-" +
                              std::to_string(30099 + 100 * index) + "\"\n";
    std::string extra = agent.extra;
    if (const size_t at = extra.find("[copies]\n"); at != std::string::npos) {
      extra.insert(at + std::string_view("[copies]\n").size(), ports);
    } else {
      extra += "\n[copies]\n" + ports;
    }
    config << extra;  // tables last: TOML keys after a table header belong to it
  }
  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
  std::string key_;
  std::string netlab_;
  std::vector<Agent> agents_;
};

// scripts/netlab's namespaces for one test: NAME-1..N on a bridge in NAME-hub. The calling
// thread (and the threads and processes it starts later) moves into NAME-hub, the LAN's client
// side, until the lab is destroyed.
class NetLab {
 public:
  NetLab(std::string name, int nodes) : name_(std::move(name)), nodes_(nodes) {
    Script("down");  // what an interrupted run of the same name left
    REQUIRE(Script("up") == 0);
    home_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    const int hub = ::open(("/run/netns/" + name_ + "-hub").c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(home_ >= 0);
    REQUIRE(hub >= 0);
    REQUIRE(::setns(hub, CLONE_NEWNET) == 0);
    ::close(hub);
  }
  ~NetLab() {
    ::setns(home_, CLONE_NEWNET);
    ::close(home_);
    Script("down");
  }
  // Whether this machine lets us (root, ip netns, veth).
  static bool Possible() { return std::system(STARLING_SOURCE_DIR "/scripts/netlab check") == 0; }
  const std::string& name() const { return name_; }
  // Node I's machine dies: every process in its namespace gets SIGKILL (agent, copies, nginx
  // and its workers, keepalived), after its link goes down.
  void Crash(int node) const {
    REQUIRE(In(node, "ip link set eth0 down") == 0);
    const std::string pids = RunCommand(fmt::format("ip netns pids {}-{}", name_, node));
    std::istringstream lines(pids);
    for (long pid = 0; lines >> pid;) {
      if (pid > 1) ::kill(static_cast<pid_t>(pid), SIGKILL);
    }
  }
  // Runs `command` in node I's namespace (a shell line); its exit status.
  int In(int node, const std::string& command) const {
    return std::system(
        fmt::format("nsenter --net=/run/netns/{}-{} -- sh -c '{}'", name_, node, command).c_str());
  }

 private:
  int Script(const std::string& verb) {
    return std::system(fmt::format("{}/scripts/netlab {} {} {} 2>/dev/null", STARLING_SOURCE_DIR,
                                   verb, name_, nodes_)
                           .c_str());
  }
  std::string name_;
  int nodes_;
  int home_ = -1;
};

}  // namespace starling::testing
