// src/agent/database.h — a db node's member of the MariaDB Galera cluster (DESIGN.md §10). The
// agent installs the database's files at the first start, registers the node as a db node in the
// state log, and keeps mariadbd running as its child: started joining the Primary component
// gossip shows, or forming a new one when the bootstrap rule (src/rules/db_cluster.h) chooses
// this node, restarted after a crash (its position recovered first with --wsrep-recover). Every
// quarter second it asks the server for its wsrep state over the unix socket (MariaDB
// Connector/C); a change is published in the node's load report at once. The SST user's password is
// made once by the node that forms the cluster and kept in the state log sealed with the cluster
// key.
//
// Threading: Update, Report and StateJson from any thread (the io thread calls Update each
// second); the work — files, mariadbd, queries, waits on the state log — runs on the service's
// own thread, never on the io thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "gossip/types.h"
#include "src/agent/config.h"
#include "src/agent/log_driver.h"
#include "src/db/connection.h"
#include "src/db/galera_config.h"
#include "src/db/grastate.h"
#include "src/net/sealer.h"
#include "src/process/process.h"
#include "src/rules/db_cluster.h"

namespace starling::agent {

class DatabaseService {
 public:
  // `log` and `sealer` must outlive this. `changed` runs on the service's thread when the
  // report changed (the agent publishes it at once).
  DatabaseService(const AgentConfig& config, LogDriver* log, const net::Sealer* sealer,
                  std::function<void()> changed);
  ~DatabaseService();
  DatabaseService(const DatabaseService&) = delete;
  DatabaseService& operator=(const DatabaseService&) = delete;

  // Makes the database's directories (the first time: its system tables), ends a mariadbd an
  // earlier run left, reads the last committed position, and starts the service's thread.
  // Blocking; once, at start. An error: this node runs no database (and says why).
  Status Start();
  // The db nodes as gossip shows them (this one's own entry is replaced by what the service
  // knows), and whether the node stands in the cluster (DESIGN.md §8: it heard its peers).
  void Update(std::vector<rules::DbNodeView> nodes, bool standing);
  // This node's report for gossip.
  gossip::DbReport Report() const;
  // What `starling db status` shows of this node.
  nlohmann::json StateJson() const;
  // Ends mariadbd (SIGTERM: it leaves the cluster cleanly; SIGKILL after a minute). Blocking.
  void Stop();

 private:
  void Run();
  void Tick();
  void Observe();
  void Decide();
  // The db nodes gossip shows, with this node's own entry as it knows itself (`state`, else
  // its report's).
  std::vector<rules::DbNodeView> ViewWithSelf(std::optional<rules::DbState> state) const;
  bool IsWriter() const;
  Status Launch(const rules::DbDecision& decision);
  Status EnsureSstSecret(bool create);
  Status EnsureUsers();
  db::Position ReadPosition();
  Status WriteAndWait(std::string key, std::string value);
  std::vector<std::string> Registered() const;
  db::GaleraOptions Options() const;
  void SetWhy(std::string why);

  AgentConfig config_;
  LogDriver* log_;
  const net::Sealer* sealer_;
  std::function<void()> changed_;
  gossip::DbReport notified_;  // service thread: the report `changed` last announced
  std::string base_, data_dir_, run_dir_, option_file_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  std::unique_ptr<db::Connection> connection_;     // service thread
  std::string sst_password_;                       // service thread
  bool registered_ = false;                        // service thread
  bool users_ready_ = false;                       // service thread
  std::map<std::string, std::string> sites_made_;  // service thread: EnsureSiteDatabases'
  int64_t sites_checked_ms_ = 0;                   // service thread
  int64_t restart_after_ms_ = 0;                   // service thread: no relaunch before this
  int64_t standing_since_ms_ = 0;                  // service thread: 0 while not standing
  // What --wsrep-recover found after a crash (grastate.dat then says -1): handed to mariadbd as
  // its start position, or it would start a new history. Service thread.
  db::Position recovered_;

  mutable std::mutex mutex_;  // guards what follows
  // The running mariadbd: replaced (under the lock) only by the service thread, which uses it
  // without the lock; null before the first start.
  std::unique_ptr<process::Child> mariadbd_;
  std::vector<rules::DbNodeView> nodes_;
  bool standing_ = false;
  gossip::DbReport report_;
  nlohmann::json status_ = nlohmann::json::object();  // the last wsrep status read
  std::string why_;
  bool stopping_ = false;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace starling::agent
