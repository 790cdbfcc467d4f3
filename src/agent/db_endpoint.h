// src/agent/db_endpoint.h — a worker's database endpoint (DESIGN.md §10): HAProxy as the agent's
// child, listening where the node's copies connect ([db] endpoint, 127.0.0.1:3307 by default;
// the copies' firewall lets them reach that port and no other of the node's), leading to the
// cluster's one writer. Each second the agent hands it the db nodes gossip shows; when the writer
// (src/rules/db_cluster.h: the Synced db node of the highest hash) or the db nodes change, it
// repoints HAProxy over its runtime API (src/db/endpoint.h: no reload) and shuts the
// connections to a writer that is no longer one. Started when the first db node appears.
//
// Threading: Update and StateJson from any thread; HAProxy is started, watched and spoken to on
// the service's own worker thread, never on the io thread.
#pragma once

#include <asio.hpp>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "src/agent/config.h"
#include "src/db/endpoint.h"
#include "src/process/process.h"
#include "src/rules/db_cluster.h"

namespace starling::agent {

class DbEndpoint {
 public:
  explicit DbEndpoint(const AgentConfig& config);
  ~DbEndpoint();
  DbEndpoint(const DbEndpoint&) = delete;
  DbEndpoint& operator=(const DbEndpoint&) = delete;

  // The db nodes as gossip shows them. Non-blocking: the work is posted to the worker.
  void Update(const std::vector<rules::DbNodeView>& nodes);
  // Where it listens, the writer, the slots, HAProxy's pid.
  nlohmann::json StateJson() const;
  // Ends HAProxy. Blocking (briefly).
  void Stop();

 private:
  void Apply(std::vector<db::DbServer> servers, std::string writer);  // worker thread
  Status EnsureRunning();                                             // worker thread
  Status Command(const std::string& command, std::string* answer);    // worker thread

  AgentConfig config_;
  std::string dir_;
  db::EndpointOptions options_;
  std::unique_ptr<process::Child> haproxy_;  // worker thread
  db::EndpointState state_;                  // worker thread: what HAProxy was told
  int64_t restart_after_ms_ = 0;             // worker thread

  mutable std::mutex mutex_;  // guards what follows
  std::vector<db::DbServer> wanted_servers_;
  std::string wanted_writer_;
  std::string applied_writer_;
  std::string why_;
  pid_t pid_ = -1;
  bool posted_ = false;
  int64_t last_applied_ms_ = 0;

  asio::thread_pool worker_{1};
};

}  // namespace starling::agent
