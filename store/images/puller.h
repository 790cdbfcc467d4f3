// store/images/puller.h — which chunk to ask which peer for, and when (pure core, DESIGN.md §2).
//
// A node that lacks chunks of an image asks several peers at once: each live peer gets its own
// batches of chunks nobody else is being asked for, so the transfer is bound by the sum of the
// peers' rates, not by one sender. A peer answers with the chunks it holds and names the ones it
// lacks; a lacking peer is not asked for that chunk again for a while, a failed peer is rested.
// Each node walks the wanted list from its own offset (given by the caller, e.g. its rank among
// the members), so pullers fetch different parts first and can then serve each other.
// Concurrency (requests in flight, per peer and in all) and bandwidth are bounded.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "base/time.h"
#include "store/images/manifest.h"

namespace starling::images {

// Chunk names are uniform: their first bytes hash them.
struct HashOfHash {
  size_t operator()(const Hash& hash) const {
    size_t value = 0;
    for (int i = 0; i < 8; ++i) value = (value << 8) | hash[i];
    return value;
  }
};

struct PullerOptions {
  size_t batch_chunks = 64;         // hashes per request
  uint64_t batch_bytes = 4u << 20;  // plain bytes per request (by the manifest's sizes)
  int per_peer_in_flight = 2;       // requests one peer serves for us at once
  int max_in_flight = 6;            // requests in flight in all
  uint64_t bytes_per_second = 0;    // plain bytes; 0 = unbounded
  Duration rest_after_failure = Seconds(1);
  Duration recheck_lacking = Seconds(2);  // a peer that lacked a chunk may have it by then
  Status Validate() const;
};

struct PullRequest {
  uint64_t id = 0;
  std::string peer;
  std::vector<Hash> hashes;
};

struct PullerStats {
  uint64_t requests = 0;
  uint64_t failures = 0;
  uint64_t chunks_received = 0;
  uint64_t bytes_received = 0;  // plain bytes, by the manifest's sizes
  uint64_t lacking_answers = 0;
};

class Puller {
 public:
  // REQUIRES: options valid.
  explicit Puller(const PullerOptions& options);

  // Adds chunks to fetch, walked from `offset` (a fraction in [0, 1) of the list) onward and
  // wrapping around. Chunks already wanted or in flight are not added twice.
  void Want(const std::vector<ChunkRef>& chunks, double offset);
  // The chunk arrived by another path (or is no longer needed): stop wanting it.
  void Forget(const Hash& hash);
  bool Wants(const Hash& hash) const { return index_.contains(hash); }
  size_t wanted() const { return index_.size(); }

  // The peers that may serve (live members but this node), in any order.
  void SetPeers(Instant now, std::vector<std::string> peers, std::vector<PullRequest>* out);

  // A peer's answer to request `id`: `received` were stored (verified), `lacking` it does not
  // hold. Chunks in neither (a short answer, or bytes that failed verification) are wanted again.
  void OnReply(Instant now, uint64_t id, const std::vector<Hash>& received,
               const std::vector<Hash>& lacking, std::vector<PullRequest>* out);
  // The request failed (connection, timeout, undecodable answer): its chunks are wanted again
  // and the peer rests.
  void OnFailed(Instant now, uint64_t id, std::vector<PullRequest>* out);
  void Tick(Instant now, std::vector<PullRequest>* out);
  Instant NextWake() const { return next_wake_; }

  size_t in_flight() const { return in_flight_.size(); }
  const PullerStats& stats() const { return stats_; }

 private:
  // A wanted chunk, in fetch order. A chunk that arrived or was forgotten stays as a dead slot
  // until the next compaction, so positions (and the peers' cursors) stay put.
  struct Slot {
    Hash hash{};
    uint32_t size = 0;
    bool live = true;
    bool in_flight = false;
    // Peers (by PeerId) that said they lack it, and until when to believe them.
    std::vector<std::pair<uint32_t, Instant>> lacking;
  };
  struct Peer {
    uint32_t id = 0;  // PeerId(name): slots name peers by it (compared in every walk)
    int in_flight = 0;
    Instant rested_until{};
    size_t cursor = 0;  // where in slots_ the next look for this peer starts
  };
  struct InFlight {
    std::string peer;
    std::vector<Hash> hashes;
  };

  void Schedule(Instant now, std::vector<PullRequest>* out);
  // The next batch for `peer`, looked for from its cursor onward (at most kScanLimit entries).
  PullRequest NextBatch(Instant now, Peer& peer, uint64_t* bytes);
  bool LacksAt(const Slot& slot, uint32_t peer, Instant now) const;
  // A small number for a peer's name, the same for as long as the puller lives.
  uint32_t PeerId(const std::string& name);
  // The live slot of `hash`, or null.
  Slot* Find(const Hash& hash);
  void Drop(Slot& slot);
  void Release(Instant now, const InFlight& request, const std::vector<Hash>& received,
               const std::vector<Hash>& lacking);
  void Refill(Instant now);
  void CompactOrder();

  PullerOptions options_;
  // Fetch order; dead slots are skipped, then compacted. Each peer walks it from its own cursor,
  // a bounded number of slots per look, so a peer that lacks most chunks costs a bounded amount
  // of work per reply instead of a scan of the whole list. A walk reads the slots in place (no
  // hashing): it runs on the agent's io thread after every reply.
  std::vector<Slot> slots_;
  std::unordered_map<Hash, size_t, HashOfHash> index_;  // live slots: hash → position
  std::map<std::string, Peer> peers_;
  std::map<std::string, uint32_t> peer_ids_;  // every peer ever seen
  size_t peer_cursor_ = 0;                    // round-robin start among peers
  std::map<uint64_t, InFlight> in_flight_;
  uint64_t next_id_ = 1;
  double tokens_ = 0;  // bandwidth budget in bytes (may go negative: one batch of debt)
  Instant refilled_at_{};
  Instant next_wake_ = kInstantMax;
  PullerStats stats_;
};

}  // namespace starling::images
