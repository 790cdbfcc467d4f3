// src/agent/log_driver.h — drives the replicated state log (store::Replica, DESIGN.md §5) for the
// agent: its RocksDB storage, its timers, its exchanges with peers over the stream transport, and
// the one path every service writes through (Write: one call, one acknowledgement or timeout).
//
// The replica runs on a thread of its own: appending a batch fsyncs the write-ahead log, and
// serving a peer's exchange syncs what it brought before answering, which may take tens of
// milliseconds on a busy disk — never on the io thread that answers probes. Reads (Get, Scan) go
// straight to RocksDB from any thread.
//
// Threading: Write, Get, Scan, stats and the Query helper may be called from any thread; the
// other methods from the io thread. Callbacks (`done`, the hooks) run on the io thread.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "src/agent/clock.h"
#include "src/agent/transport.h"
#include "src/agent/wake_timer.h"
#include "store/replica.h"
#include "store/rocksdb/rocksdb_storage.h"

namespace starling::agent {

// One key to write: a value, or with `tombstone` a delete.
struct Put {
  std::string key;
  std::string value;
  bool tombstone = false;
};

// Where an acknowledged write landed in the log.
struct Written {
  std::string origin;
  uint64_t seq = 0;
};

class LogDriver {
 public:
  struct Hooks {
    // The address of a live member (nullopt when it is not one), for an exchange. io thread.
    std::function<std::optional<gossip::Address>(const std::string& node)> address_of;
    // Small news to send on gossip (the replica's broadcasts). io thread.
    std::function<void(std::string news)> broadcast;
    // The state changed (a write here or entries from a peer). io thread, coalesced.
    std::function<void()> changed;
  };

  LogDriver(asio::io_context& io, CoreTime time, const std::string& node_name,
            const std::string& directory, StreamTransport* transport, Hooks hooks);
  ~LogDriver();

  // Opens the storage and the replica (blocking; once, before anything else) and starts the
  // log's thread.
  Status Open();
  // Stops the log's thread; pending writes fail. Blocking.
  void Stop();

  // Writes `puts` in order, the last with `mode` (the earlier ones are acknowledged with it: a
  // peer holding the last holds every earlier entry of ours). `done` runs on the io thread with
  // where the last landed, or why not (a timeout after `timeout`). Any thread.
  void Write(std::vector<Put> puts, store::AckMode mode, Duration timeout,
             std::function<void(Result<Written>)> done);
  // Write, waiting for the acknowledgement (kUnavailable when none came `timeout` and 2 s
  // later). Blocking: any thread but the io thread (which runs `done`) and the log's.
  Result<Written> WriteAndWait(std::vector<Put> puts, store::AckMode mode, Duration timeout);
  // Acknowledged locally; a failure is logged, not returned (the services' own bookkeeping).
  void WriteLocal(std::string key, std::string value, bool tombstone);

  // Durable state. Any thread.
  Result<std::optional<store::Entry>> Get(std::string_view key) const;
  Status Scan(std::string_view prefix, std::vector<store::Entry>* out) const;

  // From membership (io thread): the live peers (self excluded), and state log news heard on
  // gossip.
  void SetLivePeers(std::vector<std::string> peers);
  void OnBroadcast(std::string news);
  // Whether a peer has answered one of its exchanges since it started (its own pull, not a
  // peer's: a peer pulling from it tells it nothing). Any thread.
  bool exchanged() const { return exchanged_.load(std::memory_order_relaxed); }
  // The transport's handler for frame::kLog.
  asio::awaitable<Result<std::string>> Serve(Frame request);

  // Runs `query(replica)` on the log's thread and waits for its answer (nullopt after 3 s).
  // Any thread but the log's own.
  template <typename F>
  auto Query(F query) -> std::optional<decltype(query(std::declval<const store::Replica&>()))> {
    using R = decltype(query(std::declval<const store::Replica&>()));
    auto promise = std::make_shared<std::promise<R>>();
    auto future = promise->get_future();
    asio::post(log_io_, [this, promise, query = std::move(query)]() mutable {
      promise->set_value(query(*replica_));
    });
    if (future.wait_for(std::chrono::seconds(3)) != std::future_status::ready) return std::nullopt;
    return future.get();
  }

  // A copy of the replica's counters as of its last step. Any thread.
  store::ReplicaStats stats() const;
  // Bytes the state log takes on disk (RocksDB's estimate). Any thread.
  uint64_t SizeOnDisk() const { return storage_->SizeOnDisk(); }
  // This node's own entries at Open.
  uint64_t own_entries_at_open() const { return own_entries_at_open_; }
  const std::string& origin() const { return origin_; }

 private:
  struct Pending {
    std::function<void(Result<Written>)> done;
  };

  template <typename F>
  void Step(F&& step);  // log thread
  void Drain(store::StoreOutbox* out);
  void Reschedule();
  void ScheduleFlush();
  asio::awaitable<void> Exchange(store::StoreOutbox::Request request);

  asio::io_context& io_;
  CoreTime time_;
  std::string node_name_;
  std::string directory_;
  StreamTransport* transport_;
  Hooks hooks_;
  std::string origin_;
  uint64_t own_entries_at_open_ = 0;

  std::unique_ptr<store::RocksDbStorage> storage_;
  std::unique_ptr<store::Replica> replica_;  // touched on the log thread only (after Open)

  // The log's thread and what lives on it.
  asio::io_context log_io_{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  WakeTimer timer_{log_io_.get_executor(), time_};
  bool flush_posted_ = false;
  std::map<uint64_t, Pending> pending_;  // by ticket
  int serving_ = 0;                      // peers' exchanges being answered
  uint64_t changes_seen_ = 0;

  std::atomic<bool> changed_posted_{false};
  std::atomic<bool> exchanged_{false};
  mutable std::mutex stats_mutex_;  // guards stats_ and busy_reply_, written on the log thread
  store::ReplicaStats stats_;
  std::string busy_reply_;  // the answer to an exchange beyond kMaxServes (digest as of then)
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

}  // namespace starling::agent
