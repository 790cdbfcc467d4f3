// store/replica.h — one node's copy of the replicated state log (DESIGN.md §5). Does no I/O.
//
// Each node appends its own writes to its own log (origin, sequence), stamped with a hybrid logical
// clock, and holds every other node's log up to a contiguous head. The state is a fold: per key,
// the entry with the greatest (hlc, origin) wins, deletes being tombstones, so any delivery order
// gives the same state. Replicas converge by anti-entropy: an Exchange carries the sender's digest
// (origin -> durable head) and the entries it believes the receiver lacks; small new writes also
// ride gossip. Only durable (synced) entries ever leave a node, so a crash that loses an unsynced
// tail can never lead to a sequence number being reused.
//
// The driver (the agent, or the simulator) owns the transport and the membership: it tells the
// replica which peers are live, carries out the exchanges it asks for (each request gets exactly
// one OnReply or OnRequestFailed), and passes broadcasts to gossip.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/rng.h"
#include "base/status.h"
#include "base/time.h"
#include "store/codec.h"
#include "store/entry.h"
#include "store/hlc.h"
#include "store/storage.h"

namespace starling::store {

// When a write is acknowledged to its caller.
enum class AckMode {
  kLocal,    // durable on this node
  kOne,      // durable here and held (durably) by at least one other live node — the default
  kAllLive,  // durable here and held by every live node
};
std::string_view AckModeName(AckMode mode);
Result<AckMode> ParseAckMode(std::string_view text);

struct ReplicaOptions {
  Duration exchange_interval = Milliseconds(500);  // anti-entropy with one random live peer
  size_t max_batch_bytes = 1 << 20;                // per exchange
  size_t max_batch_entries = 10'000;
  size_t gossip_max_bytes = 900;        // new writes this small also ride gossip
  size_t max_pending_entries = 20'000;  // out-of-order entries held until their gap fills
  // Local writes: true syncs every Flush() batch; false syncs every sync_interval. Entries heard
  // on gossip or pulled are always synced by the timer (they are on no acknowledgement path).
  bool sync_every_batch = true;
  Duration sync_interval = Milliseconds(50);
  Duration compaction_interval = Seconds(10);
  size_t compaction_batch = 10'000;  // entries examined per compaction pass
  uint64_t max_clock_drift_ms = 60'000;

  Status Validate() const;
};

struct ReplicaStats {
  uint64_t writes = 0;        // local entries appended
  uint64_t applied = 0;       // remote entries applied
  uint64_t duplicates = 0;    // remote entries already held
  uint64_t out_of_order = 0;  // remote entries held back for a gap
  uint64_t requests_served = 0;
  uint64_t requests_sent = 0;
  uint64_t snapshots_served = 0;    // pages
  uint64_t snapshots_received = 0;  // completed
  uint64_t compacted = 0;           // superseded log entries deleted
  uint64_t rejected = 0;            // undecodable messages
  uint64_t storage_errors = 0;
};

struct StoreOutbox {
  struct Request {
    std::string peer;  // node name
    std::string bytes;
  };
  struct Ack {
    uint64_t ticket;
    Status status;
    Entry entry;
  };
  std::vector<Request> requests;        // send over TCP; hand the reply to OnReply
  std::vector<std::string> broadcasts;  // send on gossip; receivers call OnBroadcast
  std::vector<Ack> acks;                // writes now acknowledged (or failed)
  bool empty() const { return requests.empty() && broadcasts.empty() && acks.empty(); }
  void Clear() {
    requests.clear();
    broadcasts.clear();
    acks.clear();
  }
};

class Replica {
 public:
  // `storage` must outlive the replica. REQUIRES: options valid, node name valid.
  Replica(const ReplicaOptions& options, std::string node_name, Storage* storage, uint64_t seed);

  // Loads what the storage holds; a new store takes origin "<node>/<new_store_id as 16 hex>".
  Status Open(uint64_t wall_ms, uint64_t new_store_id);

  // Queues a write (or, with `tombstone`, a delete) and returns its ticket. It is made durable by
  // the next Flush(); its acknowledgement (or a timeout at `deadline`) arrives in
  // StoreOutbox::acks.
  Result<uint64_t> Write(Instant now, uint64_t wall_ms, std::string key, std::string value,
                         bool tombstone, AckMode mode, Instant deadline);
  // Writes every queued write in one batch (group commit) and starts replicating them.
  Status Flush(Instant now, StoreOutbox* out);
  bool has_queued_writes() const { return !queued_.empty(); }

  // The live peers (node names, self excluded), from membership.
  void SetLivePeers(Instant now, const std::vector<std::string>& peers, StoreOutbox* out);

  // A peer's exchange request: applies what it brings and returns the reply.
  Result<std::string> OnRequest(Instant now, uint64_t wall_ms, std::string_view bytes,
                                StoreOutbox* out);
  Status OnReply(Instant now, uint64_t wall_ms, const std::string& peer, std::string_view bytes,
                 StoreOutbox* out);
  void OnRequestFailed(Instant now, const std::string& peer, StoreOutbox* out);
  // The reply for a request the driver will not serve now (back-pressure).
  std::string BusyReply() const;
  // New entries heard on gossip.
  Status OnBroadcast(Instant now, uint64_t wall_ms, std::string_view bytes, StoreOutbox* out);

  void Tick(Instant now, uint64_t wall_ms, StoreOutbox* out);
  Instant NextWake() const;

  // Reads see durable state.
  Result<std::optional<Entry>> Get(std::string_view key);
  Status Scan(std::string_view prefix, std::vector<Entry>* out);

  const Origin& origin() const { return origin_; }
  const std::string& node_name() const { return node_name_; }
  const Digest& heads() const { return durable_heads_; }
  const Digest& floors() const { return floors_; }
  const std::map<std::string, Digest>& peer_digests() const { return known_; }
  const std::set<std::string>& live_peers() const { return live_; }
  // Entries of ours a peer is known to lack (its last digest), summed over origins.
  uint64_t LagOf(const std::string& peer) const;
  Hlc clock() const { return clock_.last(); }
  const ReplicaStats& stats() const { return stats_; }
  uint64_t SizeOnDisk() { return storage_->SizeOnDisk(); }

 private:
  struct Waiter {
    uint64_t ticket;
    Entry entry;
    AckMode mode;
    Instant deadline;
  };
  struct Snapshot {  // one being received
    std::string peer;
    std::string cursor;
    Digest digest;
  };

  // Applies remote log entries (any order; duplicates fine) in one storage write.
  Status ApplyRemote(const std::vector<Entry>& entries, bool sync, bool* gap);
  // Adds `entry` to `batch` if it wins over the current state (and what `batch` holds).
  Status Fold(const Entry& entry, WriteBatch* batch, std::map<std::string, Entry>* overlay);
  Status ApplySnapshotPage(const Exchange& page);
  Status Commit(WriteBatch* batch, Digest new_heads);
  void MadeDurable(StoreOutbox* out);
  Status SyncNow();
  void CheckWaiters(Instant now, StoreOutbox* out);
  bool Held(const Waiter& waiter, size_t* holders) const;
  void Request(const std::string& peer, Exchange exchange, StoreOutbox* out);
  void PullFrom(const std::string& peer, StoreOutbox* out);
  void PushTo(const std::string& peer, StoreOutbox* out);
  // Entries of ours that `their` digest lacks, within the batch limits.
  Status MissingFrom(const Digest& their, std::vector<Entry>* entries, bool* more);
  bool BehindFloor(const Digest& their) const;
  Status ServeSnapshot(const std::string& cursor, Exchange* reply);
  void Compact();
  Exchange BaseExchange() const;

  ReplicaOptions options_;
  std::string node_name_;
  Storage* storage_;
  Rng rng_;
  Origin origin_;
  HybridClock clock_;
  ReplicaStats stats_;

  Digest heads_;          // what storage holds (maybe unsynced)
  Digest durable_heads_;  // what storage holds durably: the digest others see
  Digest floors_;
  uint64_t next_seq_ = 1;  // our next sequence number
  std::vector<Entry> queued_;
  std::vector<Waiter> waiters_;  // in ticket order
  uint64_t next_ticket_ = 1;
  uint64_t pushed_head_ = 0;  // our entries already broadcast and pushed

  std::map<Origin, std::map<uint64_t, Entry>> pending_;  // out of order, awaiting a gap
  size_t pending_count_ = 0;

  std::set<std::string> live_;
  std::map<std::string, Digest> known_;  // peer -> its last digest
  std::set<std::string> inflight_;       // peers with a request outstanding
  std::optional<Snapshot> snapshot_;

  Instant next_exchange_{};
  Instant next_sync_ = kInstantMax;
  Instant next_compaction_{};
  bool dirty_ = false;  // unsynced writes exist
};

}  // namespace starling::store
