#include "src/agent/balancer.h"

#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
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

}  // namespace

BalancerService::BalancerService(asio::io_context& io, const AgentConfig& config,
                                 store::Replica* log)
    : io_(io), config_(config), log_(log) {
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
  const std::string prefix = options_.prefix + "/";
  const std::string output = options_.prefix + "/nginx.out";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<std::string> args = {nginx_, "-p", prefix, "-c", "nginx.conf", "-g", "daemon off;"};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const int error = posix_spawnp(&pid_, nginx_.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    pid_ = -1;
    return Status::Unavailable("cannot start " + nginx_ + ": " + std::strerror(error));
  }
  return Status::Ok();
}

Status BalancerService::Start() {
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
  asio::post(worker_, [this, alive = alive_, sites, upstreams, pid = pid_] {
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

void BalancerService::Update(const std::vector<balancer::WorkerCopies>& workers) {
  const auto now = std::chrono::steady_clock::now();
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
  return {{"mode", options_.mode == balancer::Mode::kLua ? "lua" : "reload"},
          {"listen", options_.listen},
          {"generation", generation_.load()},
          {"applied_generation", applied_generation_},
          {"reloads", reloads_},
          {"nginx_pid", pid_},
          {"sites", std::move(sites)}};
}

void BalancerService::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGQUIT);  // graceful: workers finish their requests
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int status = 0;
  while (std::chrono::steady_clock::now() < end) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling its exit
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

}  // namespace starling::agent
