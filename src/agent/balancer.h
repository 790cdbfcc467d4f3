// src/agent/balancer.h — a balancer node's nginx (DESIGN.md §9). The agent starts nginx as its
// child and feeds it: each site's upstream is its serving copies (not draining) as gossip shows
// them. In Lua mode (the default) a change is one POST of the whole table to nginx's control
// listener on loopback — no reload; only a change of sites or domains rewrites the
// configuration, checks it with `nginx -t`, and reloads (at most once a second; the last good
// configuration stays when a new one fails). In reload mode every change is a rewrite and a
// reload (plain nginx, and the bench's comparison).
//
// With `[balancer] vip`, the agent also runs keepalived for the shared address: its
// configuration (VRRP unicast to the other balancers gossip shows, or the configured peers)
// rewritten and keepalived reloaded (SIGHUP) when the peers change; restarted if it dies.
// A restarted agent first ends the nginx and keepalived its earlier run left (their pid files,
// checked against the command line), so it never runs beside a stale copy of itself.
//
// Threading: Update runs on the io thread and never blocks; nginx and keepalived are spoken to,
// started and restarted from one worker thread, in order. Drained may be called from any thread
// but the io thread; StateJson from any.
#pragma once

#include <sys/types.h>

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "src/agent/access_log.h"
#include "src/agent/config.h"
#include "src/agent/log_driver.h"
#include "src/balancer/nginx.h"
#include "src/process/process.h"

namespace starling::agent {

class BalancerService {
 public:
  BalancerService(asio::io_context& io, const AgentConfig& config, LogDriver* log);
  ~BalancerService();

  // Writes the first configuration, checks it, starts nginx and waits (bounded) until its
  // control listener answers. Blocking; once, before the first Update.
  Status Start();
  // From the current view (live workers' copies): pushes a changed upstream table, reloads
  // for changed sites or domains, restarts nginx if it died. Cheap when nothing changed.
  // `balancer_peers`: the other balancers' addresses (for VRRP unicast when none are configured).
  void Update(const std::vector<balancer::WorkerCopies>& workers,
              const std::vector<std::string>& balancer_peers = {});
  // Whether `backend` ("host:port") is out of every upstream nginx applied and no request to
  // it is in flight. Blocking (asks nginx); any thread but the io thread.
  Result<bool> Drained(const std::string& backend);
  // The transport's handler for frame::kDrained: Drained, off the io thread; "1" or "0".
  asio::awaitable<Result<std::string>> ServeDrained(std::string backend);
  // generation, applied generation, reloads, sites with their peers, nginx's pid, health,
  // traffic. Any thread.
  nlohmann::json StateJson();
  // Graceful: SIGQUIT to nginx, then SIGKILL after 10 s. Blocking; at shutdown.
  void Stop();

  uint64_t applied_generation() const;

 private:
  std::vector<balancer::SiteDomains> ReadSites();
  Status WriteAndCheck(const std::vector<balancer::SiteDomains>& sites,
                       const balancer::Upstreams& upstreams);
  void UpdateKeepalived(const std::vector<std::string>& balancer_peers,
                        std::chrono::steady_clock::time_point now);
  void StopKeepalived();
  void TailAccessLog(std::chrono::steady_clock::time_point now);
  void Upkeep(const std::vector<std::string>& balancer_peers,
              std::chrono::steady_clock::time_point now);
  void Push(uint64_t generation, balancer::Upstreams upstreams);
  void Reload(std::vector<balancer::SiteDomains> sites, balancer::Upstreams upstreams);

  asio::io_context& io_;
  AgentConfig config_;
  LogDriver* log_;
  balancer::NginxOptions options_;
  std::string nginx_binary_;
  process::Child nginx_;  // its pid is read on other threads (StateJson)
  std::chrono::steady_clock::time_point last_reload_{};
  std::chrono::steady_clock::time_point restart_at_{};
  process::Child keepalived_;
  std::string keepalived_conf_;  // what the running keepalived holds
  std::chrono::steady_clock::time_point keepalived_restart_at_{};
  std::chrono::steady_clock::time_point keepalived_started_{};
  std::vector<balancer::SiteDomains> sites_;         // what the running configuration holds
  std::vector<balancer::SiteDomains> failed_sites_;  // a configuration nginx -t refused
  balancer::Upstreams wanted_;                       // the newest table handed to the worker
  std::atomic<uint64_t> generation_{0};              // read by Drained on other threads
  std::atomic<bool> push_failed_{false};             // the next Update pushes the table again
  std::atomic<uint64_t> reloads_{0};
  uint64_t pushes_ = 0;

  // nginx's access log, followed across rotations into per-site totals (for metering).
  AccessLogTailer access_log_;  // worker thread
  std::atomic<uint64_t> access_log_rotations_{0};
  std::atomic<bool> upkeep_posted_{false};
  std::chrono::steady_clock::time_point last_tail_{};

  mutable std::mutex mutex_;  // guards applied_, applied_generation_ and traffic_
  balancer::TrafficTotals traffic_;
  balancer::Upstreams applied_;
  uint64_t applied_generation_ = 0;

  asio::thread_pool worker_{1};      // nginx's configuration, pushes, reloads, upkeep: in order
  asio::thread_pool drain_pool_{1};  // peers' drain questions (each asks nginx)
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace starling::agent
