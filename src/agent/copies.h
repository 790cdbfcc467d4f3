// src/agent/copies.h — the copies this node runs (DESIGN.md §7–8). Once a second it samples each
// copy (still running? how many runnable threads in its cgroup → its load average), then runs one
// round of the rules (rules::PlanRound over rules::BuildRoundView) from the view gossip and the
// state log give it: as a site's coordinator it writes the site's desired count; as a chosen node
// it starts a copy (overlay over the materialized image of the site's release, the driver's
// container, a port from the node's range); as a node whose copy is no longer wanted it drains it
// from the balancers and stops it once the chosen copies serve; in a rollout it replaces its copy
// of an older release, make before break (src/rules/rollout.h). Every decision and every change
// of a copy's state is an event with structured fields.
//
// Files: copies.cc (a copy's life: start, watch, sample, stop), copy_rounds.cc (a round: the
// view from the state log and gossip, and acting on the decisions), copy_views.cc (the load
// report and the API's list).
//
// Threading: the io thread decides and never blocks: the driver's calls, mounts and port checks
// run on a small pool (starts and stops) and on a sampler thread (usage), and report back; a
// fresh copy's port is watched with non-blocking connects on the io thread.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "gossip/types.h"
#include "src/agent/config.h"
#include "src/agent/decoded_entries.h"
#include "src/agent/drain.h"
#include "src/agent/events.h"
#include "src/agent/images.h"
#include "src/agent/log_driver.h"
#include "src/copies/driver.h"
#include "src/files/site_dirs.h"
#include "src/images/overlay.h"
#include "src/rules/copy_planner.h"
#include "src/rules/load_average.h"
#include "src/rules/rollout.h"
#include "src/rules/round_view.h"
#include "src/rules/standing.h"
#include "src/sites/release.h"
#include "src/sites/site.h"

namespace starling::agent {

// The node's range of ports for copies. Thread-safe: allocated on the pool, released anywhere.
class PortRange {
 public:
  PortRange(uint16_t first, uint16_t last) : first_(first), last_(last) {}
  // A port in the range that no copy of ours holds and nothing else listens on (another agent on
  // this host may share the range); 0 when none is left. Blocking (it binds to check).
  uint16_t Allocate();
  void Release(uint16_t port);

 private:
  uint16_t first_, last_;
  std::mutex mutex_;
  std::set<uint16_t> in_use_;
};

class CopyService {
 public:
  struct Hooks {
    std::function<Instant()> now;
    std::function<int64_t()> wall_ms;
    // The node's copies changed (one serves, drains or is gone): gossip the report now.
    std::function<void()> publish;
    // Whether this node has heard enough of the cluster to decide (src/rules/standing.h).
    std::function<rules::Standing()> standing;
    // Waits (not blocking) until every live balancer has taken `backend` ("host:port") out of
    // its upstreams and finished its requests to it, or a deadline passed; then `done`.
    std::function<void(std::string backend, std::function<void(DrainOutcome)> done)> drain;
    // Any thread: whether a copy may start now (the copies' firewall stands); unset: always.
    std::function<Status()> isolated;
    // What a site's copies are told besides their image's environment (its database's
    // settings); an error keeps the copy from starting. Unset: nothing.
    std::function<Result<std::map<std::string, std::string>>(const std::string& site)> site_env;
    // The site's persisted paths to bind into a copy of `version` (src/agent/site_files.h); an
    // error keeps the copy from starting. Unset: none.
    std::function<Result<std::vector<files::PersistBind>>(const std::string& site,
                                                          const images::ImageRecord& version)>
        site_files;
  };

  CopyService(asio::io_context& io, const AgentConfig& config,
              std::unique_ptr<copies::Driver> driver, LogDriver* log, ImageService* images,
              Hooks hooks);
  ~CopyService();

  // Finds copies an earlier run of this node left (the driver's list): they are stopped, and
  // the rules start what is wanted again. Blocking; call once before the first Tick.
  void Recover();
  // Once a second: samples every copy (off the io thread), then Plan. `alive`: live members,
  // this node included.
  void Tick(std::vector<rules::MemberReport> alive);
  // One round of the rules without sampling: also run when the state log changes (a site, a
  // desired count, a release, a drain), so a decision written elsewhere is acted on at once.
  void Plan(const std::vector<rules::MemberReport>& alive);
  // This node's copies for its load report (the busiest first, at most gossip::kMaxCopyLoads).
  std::vector<gossip::CopyLoad> Report() const;
  nlohmann::json CopiesJson() const;
  // Events after sequence number `after` (the newest kEventsKept).
  nlohmann::json EventsJson(uint64_t after) const { return events_.Json(after); }
  // Stops every copy (blocking; at shutdown).
  void StopAll();

 private:
  struct Copy {
    std::string site;
    std::string version;
    uint64_t release = 0;    // the tag of the release it runs (sites::Tag)
    bool replacing = false;  // started by a rollout beside an older copy
    std::string id;
    std::string dir;
    uint16_t port = 0;  // 0 until the pool allocated it
    rules::CopyState state = rules::CopyState::kStarting;
    rules::CopyState state_before_stop = rules::CopyState::kStarting;
    rules::LoadAverage load;
    Instant started{};
    Duration start_timeout = Seconds(60);  // its site's start_timeout_s
    uint64_t cpu_micros = 0;               // CPU time it has had
    bool busy = false;                     // a start or stop runs on the pool
    uint32_t id_base = 0;  // its user namespace's root on the host (src/copies/id_range.h); 0: none
  };
  struct Sample {
    std::string id;
    Result<copies::CopyUsage> usage = Status::NotFound("not sampled");
    // Its threads that were runnable then: counted at once, on the sampler thread (a copy's
    // threads come and go — a CGI request is a process — so counting later counts the gone).
    size_t runnable = 0;
    std::string output_tail;  // the end of its output, when it is gone
  };
  // copies.cc: a copy's life.
  Copy* Find(const std::string& id);
  // The id range for a new copy of `site` (src/copies/id_range.h), past other sites' copies'.
  // `home`: its name's own slot or 0 (copies::HomeIdBase), for a site sharing files.
  uint32_t IdBaseFor(const std::string& site, bool home = false) const;
  bool HasCopyOf(const std::string& site) const;
  void ApplySamples(std::vector<Sample> samples, const std::vector<rules::MemberReport>& alive);
  asio::awaitable<void> WatchUntilServing(std::string id);
  void Serving(Copy& copy);
  void TimedOut(Copy& copy);
  // A copy failed before it served: a replacement's failure stops its site's rollout.
  void FailedBeforeServing(const Copy& copy, const std::string& why);
  void Start(const rules::SiteView& site, const rules::Decision& decision,
             const sites::ReleaseState& release, bool replacing);
  void Stop(const std::string& id, EventRecord event);
  void FinishStop(const std::string& id);
  // A copy of `site` failed to start or died: starting it here again waits, doubling each time.
  void Failed(const std::string& site);

  // copy_rounds.cc: a round.
  // Each site's release in force, by name, for the sites in `specs` (this round's).
  std::map<std::string, sites::ReleaseState> ReadReleases(
      const std::map<std::string, const sites::Site*>& specs);
  void Act(const rules::RoundView& view, const std::vector<rules::Decision>& decisions,
           const std::map<std::string, sites::ReleaseState>& releases);

  DecodedEntries<sites::Site> sites_;               // the state log's sites, decoded once each
  DecodedEntries<uint32_t> desired_;                // the desired counts
  DecodedEntries<sites::Release> releases_;         // the stored releases
  DecodedEntries<sites::RolloutFailure> failures_;  // and the stopped rollouts
  asio::io_context& io_;
  AgentConfig config_;
  std::unique_ptr<copies::Driver> driver_;
  LogDriver* log_;
  ImageService* images_;
  Hooks hooks_;
  Events events_;
  PortRange ports_;
  std::string resolv_conf_;       // the host's, bound into OCI copies (looked for once)
  asio::thread_pool pool_{2};     // starts and stops
  asio::thread_pool sampler_{1};  // usage, once a second
  bool sampling_ = false;
  std::atomic<bool> stopping_{false};  // StopAll began: starts on the pool do nothing
  // By id. A node holds one copy of a site, or two while a rollout replaces it.
  std::map<std::string, Copy> copies_;
  std::map<std::string, rules::Autoscaler> autoscalers_;
  struct Limits {
    uint32_t memory_mb = 512, pids = 256;
    Duration start_timeout = Seconds(60);
  };
  std::map<std::string, Limits> limits_;  // by site
  std::string holding_;  // why this node decides nothing now (said once per reason), or empty
  std::set<std::string> unstartable_;  // image versions without a start command (said once)
  std::set<uint64_t> stopped_said_;    // rollouts this node stopped (said once)
  // By site: the releases with a serving copy in the last round's view.
  std::map<std::string, std::set<uint64_t>> serving_releases_;
  std::map<std::string, std::pair<Instant, int>> backoff_;  // site: retry at, failures
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace starling::agent
