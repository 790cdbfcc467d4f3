#include "src/agent/balancer.h"

#include <arpa/inet.h>
#include <fmt/ranges.h>
#include <httplib.h>
#include <ifaddrs.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "src/copies/subprocess.h"
#include "src/sites/site.h"

extern char** environ;

namespace starling::agent {

namespace {

Result<std::pair<int, std::string>> Http(const std::string& address, const std::string& method,
                                         const std::string& path, const std::string& body = "") {
  auto parsed = ParseHostPort(address, "balancer.control");
  if (!parsed.ok()) return parsed.status();
  httplib::Client client(parsed->host, parsed->port);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(5, 0);
  auto response = method == "GET" ? client.Get(path) : client.Post(path, body, "application/json");
  if (!response) {
    return Status::Unavailable("nginx's control listener " + address +
                               " does not answer: " + httplib::to_string(response.error()));
  }
  return std::make_pair(response->status, response->body);
}

// Starts argv with stdout and stderr appended to `output`; the child's pid.
Result<pid_t> Spawn(std::vector<std::string> args, const std::string& output) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  // nginx and keepalived outlive a killed agent: they must not hold its sockets or its lock.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  // A process group of its own (its pgid is its pid): nginx's workers and keepalived's children
  // are ended with it, even when the parent itself was killed with SIGKILL.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int error =
      posix_spawnp(&pid, args[0].c_str(), &actions, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0)
    return Status::Unavailable("cannot start " + args[0] + ": " + std::strerror(error));
  return pid;
}

// Whether an interface of this host (its network namespace) carries `vip` ("IP/prefix").
bool HoldsAddress(const std::string& vip) {
  if (vip.empty()) return false;
  const std::string ip = vip.substr(0, vip.find('/'));
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return false;
  bool found = false;
  char text[INET6_ADDRSTRLEN];
  for (ifaddrs* at = list; at != nullptr && !found; at = at->ifa_next) {
    if (at->ifa_addr == nullptr) continue;
    const int family = at->ifa_addr->sa_family;
    const void* raw =
        family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(at->ifa_addr)->sin_addr)
        : family == AF_INET6
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(at->ifa_addr)->sin6_addr)
            : nullptr;
    if (raw != nullptr && inet_ntop(family, raw, text, sizeof text) != nullptr) found = ip == text;
  }
  ::freeifaddrs(list);
  return found;
}

// The processes of process group `group`, as /proc shows them now.
std::vector<pid_t> GroupMembers(pid_t group) {
  std::vector<pid_t> members;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    // pid (comm) state ppid pgrp …: comm may hold spaces, so fields count from the last ')'.
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    long ppid = 0, pgrp = 0;
    if (rest >> state >> ppid >> pgrp && pgrp == group && state != 'Z') {
      members.push_back(static_cast<pid_t>(std::stol(name)));
    }
  }
  return members;
}

std::string CommandLine(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Ends what an earlier run of this agent left: the process group a pid file names (nginx's
// master and workers, keepalived and its children), when its leader's command line mentions
// `marker` — or, the leader gone (SIGKILL), when every member left runs `program` — so that a
// stranger that reused the pid is left alone. `signal`, then SIGKILL after 10 s.
void EndLeftover(const std::filesystem::path& pid_file, const std::string& marker,
                 const std::string& program, int signal) {
  std::ifstream in(pid_file);
  long number = 0;
  if (!(in >> number) || number <= 1) return;
  const pid_t group = static_cast<pid_t>(number);
  auto ours = [&] {
    auto members = GroupMembers(group);
    if (members.empty()) return false;
    if (CommandLine(group).find(marker) != std::string::npos) return true;
    return std::all_of(members.begin(), members.end(), [&](pid_t pid) {
      return pid != group && CommandLine(pid).find(program) == 0;
    });
  };
  if (!ours()) return;
  spdlog::warn("balancer: ending process group {} an earlier run left ({})", group,
               pid_file.string());
  ::kill(-group, signal);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!GroupMembers(group).empty() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling their exit
  }
  if (!GroupMembers(group).empty()) ::kill(-group, SIGKILL);
}

// Ends our child `pid` and its process group: `signal`, then SIGKILL after `grace`.
void EndChild(pid_t pid, int signal, std::chrono::seconds grace) {
  if (pid <= 0) return;
  ::kill(-pid, signal);
  const auto end = std::chrono::steady_clock::now() + grace;
  int status = 0;
  while (std::chrono::steady_clock::now() < end) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      ::kill(-pid, SIGKILL);  // anything of its group it left behind
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling its exit
  }
  ::kill(-pid, SIGKILL);
  ::waitpid(pid, &status, 0);
}

}  // namespace

BalancerService::BalancerService(asio::io_context& io, const AgentConfig& config,
                                 store::Replica* log)
    : io_(io),
      config_(config),
      log_(log),
      access_log_((std::filesystem::path(config.data_dir) / "nginx" / "access.log").string()) {
  const BalancerConfig& b = config.balancer;
  options_.mode = b.mode == "reload" ? balancer::Mode::kReload : balancer::Mode::kLua;
  options_.prefix = (std::filesystem::path(config.data_dir) / "nginx").string();
  options_.listen = b.listen;
  options_.control = b.control;
  options_.user = b.user;
  options_.worker_processes = b.worker_processes;
  options_.retries = b.retries;
  nginx_ = b.nginx;
}

BalancerService::~BalancerService() {
  *alive_ = false;
  worker_.join();
  Stop();
}

uint64_t BalancerService::applied_generation() const {
  std::lock_guard lock(mutex_);
  return applied_generation_;
}

std::vector<balancer::SiteDomains> BalancerService::ReadSites() {
  std::vector<balancer::SiteDomains> sites;
  std::vector<store::Entry> entries;
  if (!log_->Scan(sites::kKeyPrefix, &entries).ok()) return sites_;
  for (const auto& entry : entries) {
    if (entry.tombstone) continue;
    auto site = sites::Decode(entry.value);
    if (site.ok()) sites.push_back({site->name, site->domains});
  }
  return sites;  // in key order: sorted by name
}

Status BalancerService::WriteAndCheck(const std::vector<balancer::SiteDomains>& sites,
                                      const balancer::Upstreams& upstreams) {
  const std::filesystem::path prefix = options_.prefix;
  std::error_code ec;
  std::filesystem::create_directories(prefix / "tmp", ec);
  if (ec) return Status::IoError("cannot create " + (prefix / "tmp").string());
  const std::string text = balancer::RenderConfig(options_, sites, upstreams);
  {
    std::ofstream out(prefix / "nginx.conf.new", std::ios::trunc);
    out << text;
    if (!out) return Status::IoError("cannot write " + (prefix / "nginx.conf.new").string());
  }
  auto check =
      copies::RunProgram({nginx_, "-q", "-t", "-p", prefix.string() + "/", "-c", "nginx.conf.new"},
                         {.timeout = Seconds(30)});
  if (!check.ok()) return check.status();
  if (check->exit_code != 0) {
    return Status::InvalidArgument("nginx -t refused the new configuration: " + check->output);
  }
  std::filesystem::rename(prefix / "nginx.conf.new", prefix / "nginx.conf", ec);
  if (ec) return Status::IoError("cannot rename the configuration: " + ec.message());
  return Status::Ok();
}

Status BalancerService::SpawnNginx() {
  auto pid = Spawn({nginx_, "-p", options_.prefix + "/", "-c", "nginx.conf", "-g", "daemon off;"},
                   options_.prefix + "/nginx.out");
  if (!pid.ok()) return pid.status();
  pid_ = *pid;
  return Status::Ok();
}

Status BalancerService::Start() {
  // What an earlier run of this agent left (killed with SIGKILL): its nginx would hold the
  // listeners, and its keepalived the address.
  EndLeftover(std::filesystem::path(options_.prefix) / "nginx.pid", options_.prefix,
              "nginx:", SIGQUIT);
  EndLeftover(std::filesystem::path(config_.data_dir) / "keepalived" / "keepalived.pid",
              config_.data_dir, config_.balancer.keepalived, SIGTERM);
  sites_ = ReadSites();
  if (Status s = WriteAndCheck(sites_, {}); !s.ok()) return s;
  if (Status s = SpawnNginx(); !s.ok()) return s;
  last_reload_ = std::chrono::steady_clock::now();
  if (options_.mode == balancer::Mode::kReload) return Status::Ok();
  // Up once the control listener answers (bounded).
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < end) {
    auto state = Http(options_.control, "GET", "/starling/state");
    if (state.ok() && state->first == 200) return Status::Ok();
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Unavailable("nginx exited at start; see " + options_.prefix + "/error.log");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling nginx's start
  }
  return Status::Unavailable("nginx's control listener did not answer within 10 s");
}

void BalancerService::Push(uint64_t generation, balancer::Upstreams upstreams) {
  ++pushes_;
  if (options_.mode == balancer::Mode::kReload) {
    // Plain nginx: the table is the configuration.
    Reload(sites_, upstreams);
  }
  asio::post(worker_, [this, alive = alive_, generation, upstreams = std::move(upstreams),
                       lua = options_.mode == balancer::Mode::kLua] {
    if (!*alive) return;
    if (lua) {
      auto answer = Http(options_.control, "POST", "/starling/upstreams",
                         balancer::UpstreamsBody(generation, upstreams));
      if (!answer.ok() || answer->first != 200) {
        spdlog::warn("balancer: generation {} not applied: {}", generation,
                     answer.ok() ? answer->second : answer.status().ToString());
        push_failed_ = true;
        return;
      }
    }
    size_t peers = 0;
    for (const auto& [site, list] : upstreams) peers += list.size();
    spdlog::info("balancer: generation {} applied: {} sites, {} peers", generation,
                 upstreams.size(), peers);
    std::lock_guard lock(mutex_);
    if (generation > applied_generation_) {
      applied_generation_ = generation;
      applied_ = upstreams;
    }
  });
}

void BalancerService::Reload(std::vector<balancer::SiteDomains> sites,
                             balancer::Upstreams upstreams) {
  asio::post(worker_, [this, alive = alive_, sites, upstreams, pid = pid_.load()] {
    if (!*alive) return;
    Status s = WriteAndCheck(sites, upstreams);
    if (s.ok() && pid > 0 && ::kill(pid, SIGHUP) != 0) s = Status::IoError("SIGHUP failed");
    asio::post(io_, [this, alive, sites, s] {
      if (!*alive) return;
      if (!s.ok()) {
        spdlog::error("balancer: keeping the last good configuration: {}", s.ToString());
        failed_sites_ = sites;
        return;
      }
      ++reloads_;
    });
  });
}

void BalancerService::UpdateKeepalived(const std::vector<std::string>& balancer_peers,
                                       std::chrono::steady_clock::time_point now) {
  if (config_.balancer.vip.empty()) return;
  if (keepalived_pid_ > 0) {
    int status = 0;
    if (::waitpid(keepalived_pid_, &status, WNOHANG) == keepalived_pid_) {
      spdlog::error("balancer: keepalived (pid {}) exited; starting it again", keepalived_pid_);
      keepalived_pid_ = -1;
      keepalived_restart_at_ = now + std::chrono::seconds(2);
    }
  }
  auto peers = config_.balancer.peers.empty() ? balancer_peers : config_.balancer.peers;
  std::sort(peers.begin(), peers.end());
  const auto options = VrrpFor(config_, peers);
  if (Status s = balancer::Validate(options); !s.ok()) {
    spdlog::error("balancer: keepalived: {}", s.ToString());
    return;
  }
  const std::string text = balancer::RenderKeepalived(options);
  if (text == keepalived_conf_ && keepalived_pid_ > 0) return;
  if (keepalived_pid_ <= 0 && now < keepalived_restart_at_) return;
  // A keepalived just started has not set up its SIGHUP handler yet (and would die of it):
  // the change waits for a later round.
  if (keepalived_pid_ > 0 && now - keepalived_started_ < std::chrono::seconds(1)) return;
  const std::filesystem::path dir = std::filesystem::path(config_.data_dir) / "keepalived";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  {
    std::ofstream out(dir / "keepalived.conf.new", std::ios::trunc);
    out << text;
    if (!out) {
      spdlog::error("balancer: cannot write {}", (dir / "keepalived.conf.new").string());
      return;
    }
  }
  std::filesystem::rename(dir / "keepalived.conf.new", dir / "keepalived.conf", ec);
  keepalived_conf_ = text;
  if (keepalived_pid_ > 0) {
    spdlog::info("balancer: keepalived reloaded for peers [{}]", fmt::join(peers, ", "));
    ::kill(keepalived_pid_, SIGHUP);
    return;
  }
  const std::string d = dir.string();
  auto pid =
      Spawn({config_.balancer.keepalived, "--dont-fork", "--log-console", "--log-detail", "--vrrp",
             "--use-file=" + d + "/keepalived.conf", "--pid=" + d + "/keepalived.pid",
             "--vrrp_pid=" + d + "/vrrp.pid", "--checkers_pid=" + d + "/checkers.pid"},
            d + "/keepalived.out");
  if (!pid.ok()) {
    spdlog::error("balancer: {}", pid.status().ToString());
    keepalived_restart_at_ = now + std::chrono::seconds(2);
    return;
  }
  keepalived_pid_ = *pid;
  keepalived_started_ = now;
  spdlog::info("balancer: keepalived (pid {}) for {} on {}, peers [{}]", keepalived_pid_,
               config_.balancer.vip, config_.balancer.interface, fmt::join(peers, ", "));
}

void BalancerService::TailAccessLog(std::chrono::steady_clock::time_point now) {
  if (now - last_tail_ < std::chrono::seconds(1)) return;
  last_tail_ = now;
  const auto lines = access_log_.Poll();
  if (!lines.empty()) {
    std::lock_guard lock(mutex_);
    for (const auto& line : lines) traffic_.Add(line);
  }
  // Rotation by size: nginx reopens its log on SIGUSR1; the tailer reads the old file to its
  // end before it follows the new one, so no line is lost or counted twice.
  constexpr uintmax_t kRotateBytes = 64 << 20;
  const std::filesystem::path log = std::filesystem::path(options_.prefix) / "access.log";
  std::error_code ec;
  if (pid_ > 0 && std::filesystem::file_size(log, ec) > kRotateBytes && !ec) {
    std::filesystem::rename(log, log.string() + ".1", ec);
    if (!ec) ::kill(pid_, SIGUSR1);
  }
}

void BalancerService::StopKeepalived() {
  if (keepalived_pid_ <= 0) return;
  EndChild(keepalived_pid_, SIGTERM, std::chrono::seconds(10));  // it removes the address
  keepalived_pid_ = -1;
}

void BalancerService::Update(const std::vector<balancer::WorkerCopies>& workers,
                             const std::vector<std::string>& balancer_peers) {
  const auto now = std::chrono::steady_clock::now();
  UpdateKeepalived(balancer_peers, now);
  TailAccessLog(now);
  // nginx died: start it again (at most every 2 s), with what it should hold.
  if (pid_ > 0) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      spdlog::error("balancer: nginx (pid {}) exited; starting it again", pid_);
      pid_ = -1;
      restart_at_ = now;
    }
  }
  if (pid_ <= 0 && now >= restart_at_) {
    restart_at_ = now + std::chrono::seconds(2);
    if (Status s = SpawnNginx(); !s.ok()) {
      spdlog::error("balancer: {}", s.ToString());
      return;
    }
    wanted_.clear();  // the new nginx holds no table yet: push it again
  }
  // Sites or domains changed: a new configuration, checked, then a reload (at most once a
  // second; a refused one is not retried until the sites change again).
  auto sites = ReadSites();
  const bool reload_mode = options_.mode == balancer::Mode::kReload;
  auto upstreams = balancer::BuildUpstreams(workers, sites);
  if (sites != sites_ && sites != failed_sites_ && now - last_reload_ >= std::chrono::seconds(1)) {
    last_reload_ = now;
    sites_ = sites;
    if (reload_mode) {
      wanted_.clear();  // the push below rewrites and reloads
    } else {
      Reload(sites, upstreams);
      spdlog::info("balancer: reloading nginx for {} sites", sites.size());
    }
  }
  if (push_failed_.exchange(false)) wanted_.clear();  // try again
  if (upstreams != wanted_) {
    wanted_ = upstreams;
    Push(++generation_, std::move(upstreams));
  }
}

Result<bool> BalancerService::Drained(const std::string& backend) {
  {
    std::lock_guard lock(mutex_);
    if (applied_generation_ < generation_) return false;  // a newer table is on its way
    for (const auto& [site, peers] : applied_) {
      if (std::find(peers.begin(), peers.end(), backend) != peers.end()) return false;
    }
  }
  if (options_.mode == balancer::Mode::kReload) return true;  // old workers finish on their own
  auto state = Http(options_.control, "GET", "/starling/state");
  if (!state.ok()) return state.status();
  auto json = nlohmann::json::parse(state->second, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return Status::Corruption("nginx's state");
  const auto inflight = json.value("inflight", nlohmann::json::object());
  return !inflight.is_object() || !inflight.contains(backend) ||
         inflight[backend].get<int64_t>() <= 0;
}

nlohmann::json BalancerService::StateJson() {
  std::lock_guard lock(mutex_);
  nlohmann::json sites = nlohmann::json::object();
  for (const auto& [site, peers] : applied_) sites[site] = peers;
  nlohmann::json traffic = nlohmann::json::object();
  for (const auto& [site, t] : traffic_.sites()) {
    traffic[site.empty() ? "(no site)" : site] = {
        {"requests", t.requests}, {"bytes", t.bytes},
        {"2xx", t.status[2]},     {"3xx", t.status[3]},
        {"4xx", t.status[4]},     {"5xx", t.status[5]},
        {"retried", t.retried},   {"request_time_s", t.request_time_s}};
  }
  // What an operator wants first: does this balancer serve what the view says?
  const pid_t nginx = pid_, keepalived = keepalived_pid_;
  std::string health = "ok";
  if (nginx <= 0 || ::kill(nginx, 0) != 0) {
    health = "nginx down";
  } else if (!config_.balancer.vip.empty() && keepalived <= 0) {
    health = "keepalived down";
  } else if (applied_generation_ < generation_) {
    health = "applying";
  }
  return {{"mode", options_.mode == balancer::Mode::kLua ? "lua" : "reload"},
          {"health", health},
          {"listen", options_.listen},
          {"generation", generation_.load()},
          {"applied_generation", applied_generation_},
          {"reloads", reloads_},
          {"nginx_pid", nginx},
          {"vip", config_.balancer.vip},
          {"keepalived_pid", keepalived},
          {"holds_vip", HoldsAddress(config_.balancer.vip)},
          {"sites", std::move(sites)},
          {"traffic", std::move(traffic)},
          {"access_log_malformed", traffic_.malformed()},
          {"access_log_rotations", access_log_.rotations()}};
}

void BalancerService::Stop() {
  // The address goes first (to the other balancer), then nginx finishes its requests.
  StopKeepalived();
  if (pid_ <= 0) return;
  EndChild(pid_, SIGQUIT, std::chrono::seconds(10));  // graceful: workers finish their requests
  pid_ = -1;
}

}  // namespace starling::agent
