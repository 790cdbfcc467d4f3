// src/agent/copies.h — the copies this node runs (DESIGN.md §7–8). Once a second it samples each
// copy (still running? its port answering? how many runnable threads in its cgroup → its load
// average), then runs one round of the rules (rules::PlanRound) from the view gossip and the
// state log give it: as a site's coordinator it writes the site's desired count; as a chosen node
// it starts a copy (overlay over the site's newest materialized image, the driver's container,
// a port from the node's range); as a node whose copy is no longer wanted it stops it once the
// chosen copies serve. Every decision is an event with its reason.
//
// Threading: the io thread decides; the driver's blocking calls and mounts run on a small pool
// and report back to the io thread.
#pragma once

#include <asio.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "gossip/types.h"
#include "src/agent/config.h"
#include "src/agent/images.h"
#include "src/copies/driver.h"
#include "src/images/overlay.h"
#include "src/rules/copy_planner.h"
#include "src/rules/load_average.h"
#include "src/state/keys.h"
#include "store/replica.h"

namespace starling::agent {

class CopyService {
 public:
  struct Hooks {
    std::function<void(std::string key, std::string value, bool tombstone)> write;
    std::function<Instant()> now;
    std::function<int64_t()> wall_ms;
    // The node's copies changed (one serves, drains or is gone): gossip the report now.
    std::function<void()> publish;
    // Blocks (on the pool) until every live balancer has taken `backend` ("host:port") out of
    // its upstreams and finished its requests to it, or a deadline passed; says which.
    std::function<std::string(const std::string& backend)> drain;
  };
  // A live member as this node's gossip view holds it.
  struct Member {
    std::string name;
    bool worker = true;
    uint32_t capacity = 0;
    std::vector<gossip::CopyLoad> copies;
  };

  CopyService(asio::io_context& io, const AgentConfig& config,
              std::unique_ptr<copies::Driver> driver, store::Replica* log, ImageService* images,
              Hooks hooks);
  ~CopyService();

  // Finds copies an earlier run of this node left (the driver's list): they are stopped, and
  // the rules start what is wanted again. Blocking; call once before the first Tick.
  void Recover();
  // Once a second, on the io thread: samples every copy, then Plan. `alive`: live members,
  // this node included.
  void Tick(const std::vector<Member>& alive);
  // One round of the rules without sampling: also run when the state log changes (a site, a
  // desired count, a drain), so a decision written elsewhere is acted on at once, not at the
  // next tick.
  void Plan(const std::vector<Member>& alive);
  // This node's copies for its load report (the busiest first, at most gossip::kMaxCopyLoads).
  std::vector<gossip::CopyLoad> Report() const;
  nlohmann::json CopiesJson() const;
  // Events after sequence number `after` (at most 1000 kept).
  nlohmann::json EventsJson(uint64_t after) const;
  // Stops every copy (blocking; at shutdown).
  void StopAll();

 private:
  struct Copy {
    std::string site;
    std::string version;
    std::string id;
    std::string dir;
    uint16_t port = 0;
    rules::CopyState state = rules::CopyState::kStarting;
    rules::CopyState state_before_stop = rules::CopyState::kStarting;
    rules::LoadAverage load;
    Instant started{};
    uint64_t cpu_micros = 0;  // CPU time it has had
    bool busy = false;        // a start or stop runs on the pool
    images::OverlayMount mount;
  };

  void Sample(Copy& copy);
  void WatchUntilServing(const std::string& site, const std::string& id, int tries);
  void Start(const rules::SiteView& site, const std::string& reason);
  void Stop(const std::string& site, const std::string& reason);
  void Event(std::string text);
  uint16_t AllocatePort();
  // A copy of `site` failed to start or died: starting it here again waits, doubling each time.
  void Failed(const std::string& site);

  asio::io_context& io_;
  AgentConfig config_;
  std::unique_ptr<copies::Driver> driver_;
  store::Replica* log_;
  ImageService* images_;
  Hooks hooks_;
  asio::thread_pool pool_{2};
  std::map<std::string, Copy> copies_;  // by site: at most one copy of a site per node
  std::map<std::string, rules::Autoscaler> autoscalers_;
  std::set<uint16_t> ports_in_use_;
  std::map<std::string, std::pair<uint32_t, uint32_t>> limits_;  // site: memory MB, pids
  std::set<std::string> unstartable_;  // image versions without a start command (said once)
  std::map<std::string, std::pair<Instant, int>> backoff_;  // site: retry at, failures
  std::deque<std::pair<uint64_t, nlohmann::json>> events_;
  uint64_t next_event_ = 1;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace starling::agent
