// src/agent/storage.h — a storage node's part of the site files' volume (issue 19,
// docs/FILES.md). The agent keeps glusterd running as its child (its state, sockets and pid files
// under data_dir/glusterfs, listening on the node's address), registers the node and its brick in
// the state log, and each second asks glusterd what it knows of the volume; a change is published
// in the node's load report. When the volume rule (src/rules/files_volume.h) says this node forms
// the volume or adds a replica set, it probes the peers and creates or grows it; when its own
// brick is down while glusterd runs (glusterd does not restart bricks), it starts it again.
//
// Threading: Update, Report and StateJson from any thread (the io thread calls Update each
// second); the work — glusterd, the gluster CLI, waits on the state log — runs on the service's
// own thread, never on the io thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "gossip/types.h"
#include "src/agent/config.h"
#include "src/agent/log_driver.h"
#include "src/files/gluster.h"
#include "src/files/gluster_xml.h"
#include "src/process/process.h"
#include "src/rules/files_volume.h"

namespace starling::agent {

class StorageService {
 public:
  // `log` must outlive this. `changed` runs on the service's thread when the report changed.
  StorageService(const AgentConfig& config, LogDriver* log, std::function<void()> changed);
  ~StorageService();
  StorageService(const StorageService&) = delete;
  StorageService& operator=(const StorageService&) = delete;

  // Checks that GlusterFS is installed, makes the directories and starts the service's thread.
  // Blocking; once, at start. An error: this node serves no brick (and says why).
  Status Start();
  // The storage nodes as gossip shows them (this node's own entry is replaced by what the
  // service knows), whether the node stands in the cluster (it heard its peers), and the
  // addresses of every member (who may reach the volume: auth.allow).
  void Update(std::vector<rules::StorageNodeView> nodes, bool standing,
              std::vector<std::string> member_hosts);
  gossip::FilesReport Report() const;
  // What `starling files status` shows of this node.
  nlohmann::json StateJson() const;
  // Ends glusterd and the bricks and daemons it started on this node. Blocking.
  void Stop();

  // The brick directory this node registers.
  const std::string& brick() const { return brick_; }

 private:
  void Run();
  void Tick();
  void Observe();
  void Decide();
  void ReadHeal();
  // The keeper's part (rules::FilesKeeper): the volume started, its options as the agents want
  // them, auth.allow the members' addresses.
  void Keep();
  void KeepQuotas();
  Status Act(const rules::FilesDecision& decision);
  Status ProbeAll(const std::vector<std::string>& bricks);
  // Runs `gluster ... ARGS --xml` against this node's glusterd: its output, or why not.
  Result<std::string> Gluster(const std::vector<std::string>& args);
  // The same, for a command whose answer is only its outcome.
  Status Run(const std::vector<std::string>& args);
  // The storage nodes gossip shows, with this node's own entry as it knows itself.
  std::vector<rules::StorageNodeView> ViewWithSelf() const;
  void SetWhy(std::string why);
  void EndDaemons();

  AgentConfig config_;
  LogDriver* log_;
  std::function<void()> changed_;
  files::GlusterdOptions glusterd_options_;
  std::string base_, log_dir_, brick_, socket_;
  gossip::FilesReport notified_;              // service thread
  bool registered_ = false;                   // service thread
  int64_t glusterd_up_ms_ = 0;                // service thread: when glusterd last started
  int64_t brick_started_ms_ = 0;              // service thread: the last `volume start force`
  int64_t heal_read_ms_ = 0;                  // service thread
  int64_t kept_ms_ = 0;                       // service thread: the keeper's last pass
  files::VolumeInfo volume_;                  // service thread: the last `volume info`
  std::map<std::string, uint32_t> quotas_;    // service thread: limits set (site -> MiB)
  std::unique_ptr<process::Child> glusterd_;  // service thread (Stop: after it ended)
  std::atomic<pid_t> glusterd_pid_{-1};       // any thread

  mutable std::mutex mutex_;  // guards what follows
  std::vector<rules::StorageNodeView> nodes_;
  std::vector<std::string> member_hosts_;
  bool standing_ = false;
  gossip::FilesReport report_;
  nlohmann::json status_ = nlohmann::json::object();
  std::string why_;
  bool stopping_ = false;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace starling::agent
