#include "store/replica.h"

#include <algorithm>
#include <cstdio>

namespace starling::store {
namespace {

std::string StoreIdHex(uint64_t id) {
  char buffer[17];
  std::snprintf(buffer, sizeof(buffer), "%016llx", static_cast<unsigned long long>(id));
  return buffer;
}

bool SameEntry(const Entry& a, const Entry& b) { return a.origin == b.origin && a.seq == b.seq; }

}  // namespace

std::string_view AckModeName(AckMode mode) {
  switch (mode) {
    case AckMode::kLocal:
      return "local";
    case AckMode::kOne:
      return "one";
    case AckMode::kAllLive:
      return "all-live";
  }
  return "unknown";
}

Result<AckMode> ParseAckMode(std::string_view text) {
  if (text == "local") return AckMode::kLocal;
  if (text == "one" || text.empty()) return AckMode::kOne;
  if (text == "all-live") return AckMode::kAllLive;
  return Status::InvalidArgument("ack must be local, one or all-live, not '" + std::string(text) +
                                 "'");
}

Status ReplicaOptions::Validate() const {
  if (exchange_interval <= Duration::zero()) {
    return Status::InvalidArgument("exchange_interval must be positive");
  }
  if (max_batch_bytes < 1024 || max_batch_bytes > kMaxExchangeBytes / 2) {
    return Status::InvalidArgument("max_batch_bytes must be within 1 KiB and 4 MiB");
  }
  if (max_batch_entries == 0 || max_batch_entries > kMaxExchangeEntries) {
    return Status::InvalidArgument("max_batch_entries must be within 1 and 100000");
  }
  if (!sync_every_batch && sync_interval <= Duration::zero()) {
    return Status::InvalidArgument("sync_interval must be positive");
  }
  return Status::Ok();
}

Replica::Replica(const ReplicaOptions& options, std::string node_name, Storage* storage,
                 uint64_t seed)
    : options_(options),
      node_name_(std::move(node_name)),
      storage_(storage),
      rng_(seed),
      clock_(0, options.max_clock_drift_ms) {
  STARLING_CHECK(options_.Validate().ok());
}

Status Replica::Open(uint64_t wall_ms, uint64_t new_store_id) {
  auto meta = storage_->LoadMeta();
  if (!meta.ok()) return meta.status();
  clock_ = HybridClock(meta->hlc, options_.max_clock_drift_ms);
  heads_ = meta->heads;
  durable_heads_ = meta->heads;
  floors_ = meta->floors;
  if (meta->origin.empty()) {
    origin_ = node_name_ + "/" + StoreIdHex(new_store_id);
    WriteBatch batch;
    batch.origin = origin_;
    batch.hlc = clock_.Now(wall_ms);
    if (Status s = storage_->Write(batch); !s.ok()) return s;
  } else {
    origin_ = meta->origin;
    if (!IsValidOrigin(origin_) || origin_.substr(0, origin_.rfind('/')) != node_name_) {
      return Status::FailedPrecondition("the store belongs to '" + origin_ + "', not to node '" +
                                        node_name_ + "'");
    }
  }
  next_seq_ = HeadOf(heads_, origin_) + 1;
  pushed_head_ = next_seq_ - 1;
  return Status::Ok();
}

Result<uint64_t> Replica::Write(Instant now, uint64_t wall_ms, std::string key, std::string value,
                                bool tombstone, AckMode mode, Instant deadline) {
  if (!IsValidKey(key)) {
    return Status::InvalidArgument("key must be 1-512 characters of [A-Za-z0-9._/:-]");
  }
  if (value.size() > kMaxValueBytes) {
    return Status::InvalidArgument("value exceeds " + std::to_string(kMaxValueBytes) + " bytes");
  }
  if (tombstone && !value.empty()) return Status::InvalidArgument("a delete carries no value");
  (void)now;
  Entry entry{origin_,        next_seq_++,      clock_.Now(wall_ms),
              std::move(key), std::move(value), tombstone};
  const uint64_t ticket = next_ticket_++;
  waiters_.push_back(Waiter{ticket, entry, mode, deadline});
  queued_.push_back(std::move(entry));
  return ticket;
}

Status Replica::Fold(const Entry& entry, WriteBatch* batch, std::map<std::string, Entry>* overlay) {
  const Entry* current = nullptr;
  std::optional<Entry> stored;
  if (auto it = overlay->find(entry.key); it != overlay->end()) {
    current = &it->second;
  } else {
    auto got = storage_->GetState(entry.key);
    if (!got.ok()) return got.status();
    stored = std::move(got.value());
    if (stored) current = &*stored;
  }
  if (current != nullptr && !Wins(entry, *current)) {
    // The entry is superseded already; once below its origin's floor it need not be kept.
    if (entry.seq <= HeadOf(floors_, entry.origin)) {
      batch->log_deletes.emplace_back(entry.origin, entry.seq);
    }
    return Status::Ok();
  }
  if (current != nullptr && current->seq <= HeadOf(floors_, current->origin)) {
    // The entry it supersedes is held by every live member: drop it now.
    batch->log_deletes.emplace_back(current->origin, current->seq);
    ++stats_.compacted;
  }
  (*overlay)[entry.key] = entry;
  return Status::Ok();
}

Status Replica::Commit(WriteBatch* batch, Digest new_heads) {
  batch->heads = std::move(new_heads);
  batch->hlc = clock_.last();
  if (Status s = storage_->Write(*batch); !s.ok()) {
    ++stats_.storage_errors;
    return s;
  }
  for (const auto& [origin, seq] : batch->heads) heads_[origin] = seq;
  if (batch->sync) {
    durable_heads_ = heads_;  // a synced write makes every earlier one durable too
    dirty_ = false;
    next_sync_ = kInstantMax;
  } else {
    dirty_ = true;
    if (next_sync_ == kInstantMax) next_sync_ = Instant{};  // Tick() sets the real time
  }
  return Status::Ok();
}

Status Replica::Flush(Instant now, StoreOutbox* out) {
  if (queued_.empty()) return Status::Ok();
  WriteBatch batch;
  std::map<std::string, Entry> overlay;
  for (const Entry& entry : queued_) {
    if (Status s = Fold(entry, &batch, &overlay); !s.ok()) return s;
  }
  batch.log_puts = queued_;
  for (auto& [key, entry] : overlay) batch.state_puts.push_back(std::move(entry));
  batch.sync = options_.sync_every_batch;
  stats_.writes += queued_.size();
  const uint64_t last = queued_.back().seq;
  Status s = Commit(&batch, Digest{{origin_, last}});
  if (!s.ok()) {
    // Nothing was written: fail the writes, and reuse their sequence numbers.
    for (const Entry& entry : queued_) {
      for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
        if (it->entry.seq == entry.seq) {
          out->acks.push_back({it->ticket, s, it->entry});
          waiters_.erase(it);
          break;
        }
      }
    }
    next_seq_ = queued_.front().seq;
    queued_.clear();
    return s;
  }
  queued_.clear();
  if (options_.sync_every_batch) MadeDurable(out);
  CheckWaiters(now, out);
  return Status::Ok();
}

void Replica::MadeDurable(StoreOutbox* out) {
  const uint64_t durable = HeadOf(durable_heads_, origin_);
  if (durable <= pushed_head_) return;
  std::vector<Entry> fresh;
  if (!storage_->ReadLog(origin_, pushed_head_, durable, options_.max_batch_bytes, &fresh).ok()) {
    ++stats_.storage_errors;
    return;
  }
  pushed_head_ = durable;
  // Small news rides gossip, reaching everyone in gossip time.
  Exchange news = BaseExchange();
  news.entries = fresh;
  std::string bytes = EncodeExchange(news);
  if (bytes.size() <= options_.gossip_max_bytes) out->broadcasts.push_back(std::move(bytes));
  // And goes straight to peers whose copy acknowledges it: all live peers if a waiter needs them
  // all, else one.
  bool all = false;
  for (const Waiter& waiter : waiters_) all |= waiter.mode == AckMode::kAllLive;
  std::vector<std::string> peers;
  for (const std::string& peer : live_) {
    // A peer with a request outstanding hears of these in its reply's follow-up; pick a free
    // one, so the acknowledgement does not wait a round trip.
    if (all || !inflight_.contains(peer)) peers.push_back(peer);
  }
  if (!all && peers.size() > 1) {
    Shuffle(&peers, &rng_);
    peers.resize(1);
  }
  for (const std::string& peer : peers) PushTo(peer, out);
}

bool Replica::Held(const Waiter& waiter, size_t* holders) const {
  *holders = 0;
  for (const std::string& peer : live_) {
    auto it = known_.find(peer);
    if (it != known_.end() && HeadOf(it->second, origin_) >= waiter.entry.seq) ++*holders;
  }
  switch (waiter.mode) {
    case AckMode::kLocal:
      return true;
    case AckMode::kOne:
      return *holders >= 1;
    case AckMode::kAllLive:
      return *holders == live_.size();
  }
  return false;
}

void Replica::CheckWaiters(Instant now, StoreOutbox* out) {
  const uint64_t durable = HeadOf(durable_heads_, origin_);
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    size_t holders = 0;
    const bool is_durable = it->entry.seq <= durable;
    if (is_durable && Held(*it, &holders)) {
      out->acks.push_back({it->ticket, Status::Ok(), it->entry});
      it = waiters_.erase(it);
      continue;
    }
    if (now >= it->deadline) {
      std::string what = is_durable
                             ? "durable on this node (" + it->entry.origin + " #" +
                                   std::to_string(it->entry.seq) + ") and held by " +
                                   std::to_string(holders) + " of " + std::to_string(live_.size()) +
                                   " live peer(s); it keeps spreading"
                             : "not yet durable on this node";
      out->acks.push_back({it->ticket,
                           Status::Timeout("write of '" + it->entry.key + "' not acknowledged (" +
                                           std::string(AckModeName(it->mode)) + "): " + what),
                           it->entry});
      it = waiters_.erase(it);
      continue;
    }
    ++it;
  }
}

void Replica::SetLivePeers(Instant now, const std::vector<std::string>& peers, StoreOutbox* out) {
  std::set<std::string> live(peers.begin(), peers.end());
  live.erase(node_name_);
  if (live == live_) return;
  // A newcomer hears of our recent writes at once.
  std::vector<std::string> added;
  for (const auto& peer : live) {
    if (!live_.contains(peer)) added.push_back(peer);
  }
  live_ = std::move(live);
  if (snapshot_ && !live_.contains(snapshot_->peer)) snapshot_.reset();
  for (const auto& peer : added) PullFrom(peer, out);
  CheckWaiters(now, out);  // all-live waiters may be satisfied by a departure
}

Exchange Replica::BaseExchange() const {
  Exchange exchange;
  exchange.sender = node_name_;
  exchange.digest = durable_heads_;
  return exchange;
}

void Replica::Request(const std::string& peer, Exchange exchange, StoreOutbox* out) {
  inflight_.insert(peer);
  ++stats_.requests_sent;
  out->requests.push_back({peer, EncodeExchange(exchange)});
}

void Replica::PullFrom(const std::string& peer, StoreOutbox* out) {
  if (inflight_.contains(peer)) return;
  Exchange exchange = BaseExchange();
  if (snapshot_ && snapshot_->peer == peer) {
    exchange.want_snapshot = true;
    exchange.snapshot_cursor = snapshot_->cursor;
  }
  Request(peer, std::move(exchange), out);
}

void Replica::PushTo(const std::string& peer, StoreOutbox* out) {
  if (inflight_.contains(peer)) return;  // its reply will show what it still lacks
  auto it = known_.find(peer);
  const Digest their = it == known_.end() ? Digest{} : it->second;
  Exchange exchange = BaseExchange();
  if (!BehindFloor(their)) {
    if (!MissingFrom(their, &exchange.entries, &exchange.more).ok()) return;
  }
  Request(peer, std::move(exchange), out);
}

bool Replica::BehindFloor(const Digest& their) const {
  for (const auto& [origin, floor] : floors_) {
    if (floor > 0 && HeadOf(their, origin) < floor) return true;
  }
  return false;
}

Status Replica::MissingFrom(const Digest& their, std::vector<Entry>* entries, bool* more) {
  size_t bytes = 0;
  // Start at a random origin, so a batch limit does not always favour the same logs.
  std::vector<std::pair<Origin, uint64_t>> origins(durable_heads_.begin(), durable_heads_.end());
  if (origins.empty()) return Status::Ok();
  std::rotate(origins.begin(), origins.begin() + rng_.Uniform(origins.size()), origins.end());
  for (const auto& [origin, head] : origins) {
    const uint64_t from = HeadOf(their, origin);
    if (from >= head) continue;
    if (bytes >= options_.max_batch_bytes || entries->size() >= options_.max_batch_entries) {
      *more = true;
      break;
    }
    const size_t before = entries->size();
    if (Status s = storage_->ReadLog(origin, from, head, options_.max_batch_bytes - bytes, entries);
        !s.ok()) {
      return s;
    }
    for (size_t i = before; i < entries->size(); ++i) {
      bytes += (*entries)[i].key.size() + (*entries)[i].value.size() + 32;
    }
    if (entries->size() > options_.max_batch_entries) {
      entries->resize(options_.max_batch_entries);
      *more = true;
      break;
    }
    if (entries->empty() || entries->back().origin != origin || entries->back().seq < head) {
      *more = true;
    }
  }
  return Status::Ok();
}

Status Replica::ServeSnapshot(const std::string& cursor, Exchange* reply) {
  reply->snapshot = true;
  reply->snapshot_digest = durable_heads_;
  if (Status s = storage_->ScanState("", cursor, options_.max_batch_entries,
                                     options_.max_batch_bytes, &reply->entries);
      !s.ok()) {
    return s;
  }
  // Done only when the scan ran out of keys: check by asking for one more.
  if (!reply->entries.empty()) {
    std::vector<Entry> next;
    if (Status s = storage_->ScanState("", reply->entries.back().key, 1, kMaxValueBytes, &next);
        !s.ok()) {
      return s;
    }
    reply->snapshot_done = next.empty();
    reply->snapshot_cursor = reply->entries.back().key;
  } else {
    reply->snapshot_done = true;
  }
  ++stats_.snapshots_served;
  return Status::Ok();
}

Result<std::string> Replica::OnRequest(Instant now, uint64_t wall_ms, std::string_view bytes,
                                       StoreOutbox* out) {
  auto request = DecodeExchange(bytes);
  if (!request.ok()) {
    ++stats_.rejected;
    return request.status();
  }
  if (request->sender == node_name_) return Status::InvalidArgument("an exchange from ourselves");
  ++stats_.requests_served;
  for (const Entry& entry : request->entries) clock_.Observe(entry.hlc, wall_ms);
  if (!request->entries.empty()) {
    bool gap = false;
    // Durable before we say we hold it: the sender may acknowledge a write on our word. (Entries
    // we applied earlier without a sync are made durable here too.)
    if (Status s = ApplyRemote(request->entries, /*sync=*/true, &gap); !s.ok()) return s;
    if (dirty_) {
      if (Status s = SyncNow(); !s.ok()) return s;
    }
    MadeDurable(out);
  }
  known_[request->sender] = request->digest;
  Exchange reply = BaseExchange();
  if (request->want_snapshot || BehindFloor(request->digest)) {
    if (Status s = ServeSnapshot(request->snapshot_cursor, &reply); !s.ok()) return s;
  } else if (Status s = MissingFrom(request->digest, &reply.entries, &reply.more); !s.ok()) {
    return s;
  }
  CheckWaiters(now, out);
  return EncodeExchange(reply);
}

Status Replica::ApplySnapshotPage(const Exchange& page) {
  if (!snapshot_ || snapshot_->digest.empty()) {
    snapshot_ = Snapshot{snapshot_ ? snapshot_->peer : std::string(), "", page.snapshot_digest};
  }
  WriteBatch batch;
  std::map<std::string, Entry> overlay;
  for (const Entry& entry : page.entries) {
    if (Status s = Fold(entry, &batch, &overlay); !s.ok()) return s;
    batch.log_puts.push_back(entry);
  }
  for (auto& [key, entry] : overlay) batch.state_puts.push_back(std::move(entry));
  Digest new_heads;
  if (page.snapshot_done) {
    // We now hold every winner up to the snapshot's heads; the superseded entries below them we
    // never will, so serve those ranges by snapshot too.
    for (const auto& [origin, head] : snapshot_->digest) {
      if (origin != origin_ && head > HeadOf(heads_, origin)) {
        new_heads[origin] = head;
        batch.floors[origin] = head;
      }
    }
  }
  batch.sync = true;
  if (Status s = Commit(&batch, new_heads); !s.ok()) return s;
  for (const auto& [origin, floor] : batch.floors) floors_[origin] = floor;
  if (page.snapshot_done) {
    snapshot_.reset();
    ++stats_.snapshots_received;
    // Held-back entries the snapshot covered are moot; the rest may now be contiguous.
    std::vector<Entry> rest;
    for (auto& [origin, held] : pending_) {
      for (auto& [seq, entry] : held) rest.push_back(std::move(entry));
    }
    pending_.clear();
    pending_count_ = 0;
    bool gap = false;
    if (!rest.empty()) return ApplyRemote(rest, true, &gap);
  } else {
    snapshot_->cursor = page.snapshot_cursor;
  }
  return Status::Ok();
}

Status Replica::OnReply(Instant now, uint64_t wall_ms, const std::string& peer,
                        std::string_view bytes, StoreOutbox* out) {
  inflight_.erase(peer);
  auto reply = DecodeExchange(bytes);
  if (!reply.ok()) {
    ++stats_.rejected;
    return reply.status();
  }
  if (reply->sender != peer) return Status::InvalidArgument("a reply from the wrong peer");
  if (reply->busy) return Status::Ok();
  known_[peer] = reply->digest;
  for (const Entry& entry : reply->entries) clock_.Observe(entry.hlc, wall_ms);
  bool again = reply->more;
  if (reply->snapshot) {
    if (!snapshot_ || snapshot_->peer != peer) snapshot_ = Snapshot{peer, "", {}};
    if (Status s = ApplySnapshotPage(*reply); !s.ok()) return s;
    again = !reply->snapshot_done;
  } else if (!reply->entries.empty()) {
    bool gap = false;
    if (Status s = ApplyRemote(reply->entries, /*sync=*/false, &gap); !s.ok()) return s;
  }
  if (!dirty_) MadeDurable(out);
  CheckWaiters(now, out);
  if (!live_.contains(peer)) return Status::Ok();
  if (again) {
    PullFrom(peer, out);
  } else {
    // The peer lacks some of our own writes: push them (its reply closes the loop). Other
    // origins' entries are theirs to push; they also spread by gossip and periodic pulls, and
    // chasing them here would keep every pair of nodes exchanging nonstop under load.
    if (!BehindFloor(reply->digest) &&
        HeadOf(reply->digest, origin_) < HeadOf(durable_heads_, origin_)) {
      PushTo(peer, out);
    }
  }
  return Status::Ok();
}

void Replica::OnRequestFailed(Instant /*now*/, const std::string& peer, StoreOutbox* /*out*/) {
  inflight_.erase(peer);
  if (snapshot_ && snapshot_->peer == peer) snapshot_.reset();  // resume from another peer
}

Status Replica::OnBroadcast(Instant now, uint64_t wall_ms, std::string_view bytes,
                            StoreOutbox* out) {
  auto news = DecodeExchange(bytes);
  if (!news.ok()) {
    ++stats_.rejected;
    return news.status();
  }
  if (news->sender == node_name_) return Status::Ok();
  for (const Entry& entry : news->entries) clock_.Observe(entry.hlc, wall_ms);
  bool gap = false;
  // Not on any acknowledgement's path: made durable with the next timed sync, saving an fsync per
  // node per write (our digest shows them only once durable).
  if (Status s = ApplyRemote(news->entries, /*sync=*/false, &gap); !s.ok()) return s;
  if (!dirty_) MadeDurable(out);
  // The news carries the sender's digest too: it tells what the sender durably holds (which may
  // acknowledge our writes), and whether we are behind it anywhere.
  Digest& known = known_[news->sender];
  bool behind = gap;
  for (const auto& [origin, head] : news->digest) {
    uint64_t& held = known[origin];
    held = std::max(held, head);
    if (origin != origin_ && head > HeadOf(heads_, origin) && !pending_.contains(origin)) {
      behind = true;
    }
  }
  // Ask the sender now instead of waiting for the next round.
  if (behind && live_.contains(news->sender)) PullFrom(news->sender, out);
  CheckWaiters(now, out);
  return Status::Ok();
}

Status Replica::ApplyRemote(const std::vector<Entry>& entries, bool sync, bool* gap) {
  std::vector<const Entry*> sorted;
  sorted.reserve(entries.size());
  for (const Entry& entry : entries) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) {
    return std::tie(a->origin, a->seq) < std::tie(b->origin, b->seq);
  });
  WriteBatch batch;
  std::map<std::string, Entry> overlay;
  Digest new_heads;
  auto head_of = [&](const Origin& origin) {
    auto it = new_heads.find(origin);
    return it != new_heads.end() ? it->second : HeadOf(heads_, origin);
  };
  auto apply = [&](const Entry& entry) -> Status {
    if (Status s = Fold(entry, &batch, &overlay); !s.ok()) return s;
    batch.log_puts.push_back(entry);
    new_heads[entry.origin] = entry.seq;
    ++stats_.applied;
    return Status::Ok();
  };
  for (const Entry* entry : sorted) {
    if (entry->origin == origin_) continue;  // our own log is ours alone
    const uint64_t head = head_of(entry->origin);
    if (entry->seq <= head) {
      ++stats_.duplicates;
      continue;
    }
    if (entry->seq > head + 1) {
      *gap = true;
      auto& held = pending_[entry->origin];
      if (pending_count_ < options_.max_pending_entries &&
          held.emplace(entry->seq, *entry).second) {
        ++pending_count_;
        ++stats_.out_of_order;
      }
      continue;
    }
    if (Status s = apply(*entry); !s.ok()) return s;
    // Entries held back for this gap may follow now.
    auto held = pending_.find(entry->origin);
    while (held != pending_.end() && !held->second.empty()) {
      auto first = held->second.begin();
      if (first->first <= head_of(entry->origin)) {
        held->second.erase(first);
        --pending_count_;
        continue;
      }
      if (first->first != head_of(entry->origin) + 1) break;
      Entry next = std::move(first->second);
      held->second.erase(first);
      --pending_count_;
      if (Status s = apply(next); !s.ok()) return s;
    }
    if (held != pending_.end() && held->second.empty()) pending_.erase(held);
  }
  if (batch.log_puts.empty()) return Status::Ok();
  for (auto& [key, entry] : overlay) batch.state_puts.push_back(std::move(entry));
  batch.sync = sync;
  return Commit(&batch, std::move(new_heads));
}

Status Replica::SyncNow() {
  if (Status s = storage_->Sync(); !s.ok()) {
    ++stats_.storage_errors;
    return s;
  }
  durable_heads_ = heads_;
  dirty_ = false;
  next_sync_ = kInstantMax;
  return Status::Ok();
}

void Replica::Tick(Instant now, uint64_t wall_ms, StoreOutbox* out) {
  (void)wall_ms;
  if (dirty_ && (next_sync_ == Instant{} || now >= next_sync_)) {
    if (next_sync_ == Instant{}) {
      next_sync_ = now + options_.sync_interval;
    } else if (SyncNow().ok()) {
      MadeDurable(out);
    } else {
      next_sync_ = now + options_.sync_interval;
    }
  }
  if (now >= next_exchange_) {
    // Jittered, so nodes started together do not exchange in lockstep.
    next_exchange_ = now + options_.exchange_interval / 2 +
                     Duration(rng_.Uniform(options_.exchange_interval.count()));
    if (snapshot_ && live_.contains(snapshot_->peer)) {
      PullFrom(snapshot_->peer, out);
    } else if (!live_.empty()) {
      std::vector<std::string> peers(live_.begin(), live_.end());
      PullFrom(peers[rng_.Uniform(peers.size())], out);
    }
  }
  if (now >= next_compaction_) {
    next_compaction_ = now + options_.compaction_interval;
    Compact();
  }
  CheckWaiters(now, out);
}

Instant Replica::NextWake() const {
  Instant wake = std::min({next_exchange_, next_compaction_, next_sync_});
  for (const Waiter& waiter : waiters_) wake = std::min(wake, waiter.deadline);
  return wake;
}

void Replica::Compact() {
  if (live_.empty() || dirty_) return;
  // An entry may go once it is superseded and every live member holds it: whoever is behind
  // that point (a newcomer, a node back from the dead) gets a snapshot instead.
  WriteBatch batch;
  size_t examined = 0;
  for (const auto& [origin, head] : durable_heads_) {
    uint64_t upto = head;
    for (const std::string& peer : live_) {
      auto it = known_.find(peer);
      if (it == known_.end()) return;  // a live peer we know nothing of yet: wait
      upto = std::min(upto, HeadOf(it->second, origin));
    }
    const uint64_t floor = HeadOf(floors_, origin);
    if (upto <= floor || examined >= options_.compaction_batch) continue;
    std::vector<Entry> entries;
    if (!storage_->ReadLog(origin, floor, upto, options_.max_batch_bytes, &entries).ok()) {
      ++stats_.storage_errors;
      return;
    }
    if (entries.size() > options_.compaction_batch - examined) {
      entries.resize(options_.compaction_batch - examined);
    }
    uint64_t new_floor = upto;
    if (!entries.empty() && entries.back().seq < upto) new_floor = entries.back().seq;
    for (const Entry& entry : entries) {
      ++examined;
      auto winner = storage_->GetState(entry.key);
      if (!winner.ok()) {
        ++stats_.storage_errors;
        return;
      }
      if (!*winner || !SameEntry(**winner, entry)) {
        batch.log_deletes.emplace_back(entry.origin, entry.seq);
      }
    }
    batch.floors[origin] = new_floor;
  }
  if (batch.floors.empty()) return;
  batch.sync = false;  // losing a compaction to a crash only means redoing it
  if (!storage_->Write(batch).ok()) {
    ++stats_.storage_errors;
    return;
  }
  stats_.compacted += batch.log_deletes.size();
  for (const auto& [origin, floor] : batch.floors) floors_[origin] = floor;
}

std::string Replica::BusyReply() const {
  Exchange reply = BaseExchange();
  reply.busy = true;
  return EncodeExchange(reply);
}

Result<std::optional<Entry>> Replica::Get(std::string_view key) { return storage_->GetState(key); }

Status Replica::Scan(std::string_view prefix, std::vector<Entry>* out) {
  return storage_->ScanState(prefix, "", SIZE_MAX, SIZE_MAX, out);
}

uint64_t Replica::LagOf(const std::string& peer) const {
  auto it = known_.find(peer);
  uint64_t lag = 0;
  for (const auto& [origin, head] : durable_heads_) {
    const uint64_t theirs = it == known_.end() ? 0 : HeadOf(it->second, origin);
    if (head > theirs) lag += head - theirs;
  }
  return lag;
}

}  // namespace starling::store
