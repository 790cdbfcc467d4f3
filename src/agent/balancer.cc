#include "src/agent/balancer.h"

#include <arpa/inet.h>
#include <fmt/ranges.h>
#include <httplib.h>
#include <ifaddrs.h>
#include <signal.h>
#include <sodium.h>
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

#include "base/file.h"
#include "src/agent/drain.h"
#include "src/process/process.h"
#include "src/process/run.h"
#include "src/sites/site.h"

extern char** environ;

namespace starling::agent {

namespace {

// 32 random bytes in hex: what nginx's control listener asks of callers, new at each start.
std::string NewControlSecret() {
  unsigned char secret[32];
  randombytes_buf(secret, sizeof secret);
  char hex[sizeof secret * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, secret, sizeof secret);
  return hex;
}

// A call to nginx's control listener, with the secret it requires (NginxOptions).
Result<std::pair<int, std::string>> Http(const balancer::NginxOptions& options,
                                         const std::string& method, const std::string& path,
                                         const std::string& body = "") {
  const std::string& address = options.control;
  auto parsed = ParseHostPort(address, "balancer.control");
  if (!parsed.ok()) return parsed.status();
  httplib::Client client(parsed->host, parsed->port);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(5, 0);
  const httplib::Headers headers = {{"X-Starling-Control", options.control_secret}};
  auto response = method == "GET" ? client.Get(path, headers)
                                  : client.Post(path, headers, body, "application/json");
  if (!response) {
    return Status::Unavailable("nginx's control listener " + address +
                               " does not answer: " + httplib::to_string(response.error()));
  }
  return std::make_pair(response->status, response->body);
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

// nginx as the agent's child (daemon off), its output beside its configuration.
process::SpawnOptions NginxProgram(const AgentConfig& config) {
  const std::string prefix = (std::filesystem::path(config.data_dir) / "nginx").string();
  return {
      .argv = {config.balancer.nginx, "-p", prefix + "/", "-c", "nginx.conf", "-g", "daemon off;"},
      .output_file = prefix + "/nginx.out",
      .pid_file = prefix + "/supervised.pid"};
}

process::SpawnOptions KeepalivedProgram(const AgentConfig& config) {
  const std::string d = (std::filesystem::path(config.data_dir) / "keepalived").string();
  return {
      .argv = {config.balancer.keepalived, "--dont-fork", "--log-console", "--log-detail", "--vrrp",
               "--use-file=" + d + "/keepalived.conf", "--pid=" + d + "/keepalived.pid",
               "--vrrp_pid=" + d + "/vrrp.pid", "--checkers_pid=" + d + "/checkers.pid"},
      .output_file = d + "/keepalived.out",
      .pid_file = d + "/supervised.pid"};
}

}  // namespace

BalancerService::BalancerService(asio::io_context& io, const AgentConfig& config, LogDriver* log)
    : io_(io),
      config_(config),
      log_(log),
      nginx_(NginxProgram(config)),
      keepalived_(KeepalivedProgram(config)),
      access_log_((std::filesystem::path(config.data_dir) / "nginx" / "access.log").string()) {
  const BalancerConfig& b = config.balancer;
  options_.mode = b.mode == "reload" ? balancer::Mode::kReload : balancer::Mode::kLua;
  options_.prefix = (std::filesystem::path(config.data_dir) / "nginx").string();
  options_.listen = b.listen;
  options_.control = b.control;
  options_.control_secret = NewControlSecret();
  options_.user = b.user;
  options_.worker_processes = b.worker_processes;
  options_.retries = b.retries;
  nginx_binary_ = b.nginx;
}

BalancerService::~BalancerService() {
  *alive_ = false;
  worker_.join();
  drain_pool_.join();
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
    if (site.ok()) sites.push_back({site->name, site->domains, site->max_body_mb});
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
  // Owner-only: it holds the control listener's secret.
  if (Status s = WriteFileAtomically(prefix / "nginx.conf.new", text, 0600); !s.ok()) return s;
  auto check = process::RunProgram(
      {nginx_binary_, "-q", "-t", "-p", prefix.string() + "/", "-c", "nginx.conf.new"},
      {.timeout = Seconds(30)});
  if (!check.ok()) return check.status();
  if (check->exit_code != 0) {
    return Status::InvalidArgument("nginx -t refused the new configuration: " + check->output);
  }
  std::filesystem::rename(prefix / "nginx.conf.new", prefix / "nginx.conf", ec);
  if (ec) return Status::IoError("cannot rename the configuration: " + ec.message());
  return Status::Ok();
}

Status BalancerService::Start() {
  // What an earlier run of this agent left (killed with SIGKILL): its nginx would hold the
  // listeners, and its keepalived the address (process::Child ends them by their pid files).
  process::EndLeftover(keepalived_.options().pid_file, SIGTERM, Seconds(10));
  sites_ = ReadSites();
  if (Status s = WriteAndCheck(sites_, {}); !s.ok()) return s;
  if (Status s = nginx_.Start(); !s.ok()) return s;
  last_reload_ = std::chrono::steady_clock::now();
  if (options_.mode == balancer::Mode::kReload) return Status::Ok();
  // Up once the control listener answers (bounded).
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < end) {
    auto state = Http(options_, "GET", "/starling/state");
    if (state.ok() && state->first == 200) return Status::Ok();
    if (nginx_.CheckExited()) {
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
      auto answer = Http(options_, "POST", "/starling/upstreams",
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
  asio::post(worker_, [this, alive = alive_, sites, upstreams] {
    if (!*alive) return;
    Status s = WriteAndCheck(sites, upstreams);
    if (s.ok() && !nginx_.Signal(SIGHUP)) s = Status::IoError("nginx does not run: no reload");
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
  if (keepalived_.CheckExited()) {
    spdlog::error("balancer: keepalived exited; starting it again");
    keepalived_restart_at_ = now + std::chrono::seconds(2);
  }
  auto peers = config_.balancer.peers.empty() ? balancer_peers : config_.balancer.peers;
  std::sort(peers.begin(), peers.end());
  const auto options = VrrpFor(config_, peers);
  if (Status s = balancer::Validate(options); !s.ok()) {
    spdlog::error("balancer: keepalived: {}", s.ToString());
    return;
  }
  const std::string text = balancer::RenderKeepalived(options);
  const bool running = keepalived_.pid() > 0;
  if (text == keepalived_conf_ && running) return;
  if (!running && now < keepalived_restart_at_) return;
  // A keepalived just started has not set up its SIGHUP handler yet (and would die of it):
  // the change waits for a later round.
  if (running && now - keepalived_started_ < std::chrono::seconds(1)) return;
  const std::filesystem::path dir = std::filesystem::path(config_.data_dir) / "keepalived";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (Status s = WriteFileAtomically(dir / "keepalived.conf.new", text, 0600); !s.ok()) {
    spdlog::error("balancer: {}", s.ToString());
    return;
  }
  std::filesystem::rename(dir / "keepalived.conf.new", dir / "keepalived.conf", ec);
  keepalived_conf_ = text;
  if (running) {
    spdlog::info("balancer: keepalived reloaded for peers [{}]", fmt::join(peers, ", "));
    keepalived_.Signal(SIGHUP);
    return;
  }
  if (Status s = keepalived_.Start(); !s.ok()) {
    spdlog::error("balancer: {}", s.ToString());
    keepalived_restart_at_ = now + std::chrono::seconds(2);
    return;
  }
  keepalived_started_ = now;
  spdlog::info("balancer: keepalived (pid {}) for {} on {}, peers [{}]", keepalived_.pid(),
               config_.balancer.vip, config_.balancer.interface, fmt::join(peers, ", "));
}

void BalancerService::TailAccessLog(std::chrono::steady_clock::time_point now) {
  if (now - last_tail_ < std::chrono::seconds(1)) return;
  last_tail_ = now;
  const auto lines = access_log_.Poll();
  access_log_rotations_ = access_log_.rotations();
  if (!lines.empty()) {
    std::lock_guard lock(mutex_);
    for (const auto& line : lines) traffic_.Add(line);
  }
  // Rotation by size: nginx reopens its log on SIGUSR1; the tailer reads the old file to its
  // end before it follows the new one, so no line is lost or counted twice.
  constexpr uintmax_t kRotateBytes = 64 << 20;
  const std::filesystem::path log = std::filesystem::path(options_.prefix) / "access.log";
  std::error_code ec;
  if (nginx_.pid() > 0 && std::filesystem::file_size(log, ec) > kRotateBytes && !ec) {
    std::filesystem::rename(log, log.string() + ".1", ec);
    if (!ec) nginx_.Signal(SIGUSR1);
  }
}

void BalancerService::StopKeepalived() {
  keepalived_.Stop(SIGTERM, Seconds(10));  // it removes the address
}

void BalancerService::Update(const std::vector<balancer::WorkerCopies>& workers,
                             const std::vector<std::string>& balancer_peers) {
  const auto now = std::chrono::steady_clock::now();
  // nginx's and keepalived's upkeep (a restart, a configuration written, the access log read)
  // touches files and processes: on the worker thread, at most one pending at a time.
  if (!upkeep_posted_.exchange(true)) {
    asio::post(worker_, [this, alive = alive_, balancer_peers] {
      if (!*alive) return;
      upkeep_posted_ = false;
      Upkeep(balancer_peers, std::chrono::steady_clock::now());
    });
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

// On the worker thread.
void BalancerService::Upkeep(const std::vector<std::string>& balancer_peers,
                             std::chrono::steady_clock::time_point now) {
  UpdateKeepalived(balancer_peers, now);
  TailAccessLog(now);
  // nginx died: start it again (at most every 2 s), with what it should hold.
  if (nginx_.CheckExited()) {
    spdlog::error("balancer: nginx exited; starting it again");
    restart_at_ = now;
  }
  if (nginx_.pid() <= 0 && now >= restart_at_) {
    restart_at_ = now + std::chrono::seconds(2);
    if (Status s = nginx_.Start(); !s.ok()) {
      spdlog::error("balancer: {}", s.ToString());
      return;
    }
    push_failed_ = true;  // the new nginx holds no table yet: the next Update pushes it again
  }
}

asio::awaitable<Result<std::string>> BalancerService::ServeDrained(std::string backend) {
  if (!ParseHostPort(backend, "backend").ok()) {
    co_return Status::InvalidArgument("backend must be host:port");
  }
  auto asked = asio::co_spawn(
      drain_pool_,
      [this, backend]() -> asio::awaitable<Result<bool>> { co_return Drained(backend); },
      asio::use_awaitable);
  Result<bool> drained = co_await std::move(asked);
  if (!drained.ok()) co_return drained.status();
  co_return std::string(*drained ? kDrainedYes : kDrainedNo);
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
  auto state = Http(options_, "GET", "/starling/state");
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
  const pid_t nginx = nginx_.pid(), keepalived = keepalived_.pid();
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
          {"reloads", reloads_.load()},
          {"nginx_pid", nginx},
          {"vip", config_.balancer.vip},
          {"keepalived_pid", keepalived},
          {"holds_vip", HoldsAddress(config_.balancer.vip)},
          {"sites", std::move(sites)},
          {"traffic", std::move(traffic)},
          {"access_log_malformed", traffic_.malformed()},
          {"access_log_rotations", access_log_rotations_.load()}};
}

void BalancerService::Stop() {
  // The address goes first (to the other balancer), then nginx finishes its requests.
  StopKeepalived();
  nginx_.Stop(SIGQUIT, Seconds(10));  // graceful: workers finish their requests
}

}  // namespace starling::agent
