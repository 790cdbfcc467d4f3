// [unit] and [core] tests of the state log core: the fold, the clock, and replicas wired by hand.
#include "store/replica.h"

#include <fmt/format.h>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <catch2/catch.hpp>
#include <deque>
#include <memory>

#include "store/memory_storage.h"

namespace starling::store {
namespace {

// Everything a replica's state holds, as bytes: equal bytes, equal state.
std::string StateBytes(Replica& replica) {
  std::vector<Entry> entries;
  REQUIRE(replica.Scan("", &entries).ok());
  std::string bytes;
  for (const Entry& entry : entries) bytes += EncodeEntry(entry);
  for (const auto& [origin, head] : replica.heads()) bytes += origin + std::to_string(head);
  return bytes;
}

// Logs of three origins: per origin, increasing sequence and clock; keys from a small set.
std::vector<Entry> GenerateLogs() {
  const auto counts = *rc::gen::container<std::vector<int>>(3, rc::gen::inRange(0, 25));
  std::vector<Entry> entries;
  for (int o = 0; o < 3; ++o) {
    static const char* const kOrigins[] = {"node-0/0000000000000000", "node-1/0000000000000001",
                                           "node-2/0000000000000002"};
    const Origin origin = kOrigins[o];
    Hlc hlc = HlcFromMillis(1000);
    for (int seq = 1; seq <= counts[o]; ++seq) {
      hlc += *rc::gen::inRange<uint64_t>(1, 5000);  // overlapping clocks across origins
      const bool tombstone = *rc::gen::inRange(0, 5) == 0;
      entries.push_back(Entry{origin, static_cast<uint64_t>(seq), hlc,
                              "k/" + std::to_string(*rc::gen::inRange(0, 6)),
                              tombstone ? "" : *rc::gen::string<std::string>(), tombstone});
    }
  }
  return entries;
}

Status Feed(Replica* replica, const std::vector<Entry>& entries) {
  Exchange news;
  news.sender = "feeder";
  news.entries = entries;
  StoreOutbox out;
  return replica->OnBroadcast(Instant{}, 1000, EncodeExchange(news), &out);
}

TEST_CASE("any delivery order, duplication or batching gives byte-identical state", "[unit]") {
  rc::prop("fold is order-independent", [] {
    const std::vector<Entry> entries = GenerateLogs();
    MemoryStorage in_order_storage, shuffled_storage;
    Replica in_order({}, "a", &in_order_storage, 1);
    Replica shuffled({}, "b", &shuffled_storage, 2);
    RC_ASSERT(in_order.Open(1000, 1).ok());
    RC_ASSERT(shuffled.Open(1000, 2).ok());
    RC_ASSERT(Feed(&in_order, entries).ok());

    // The same entries, some twice, shuffled, cut into random batches.
    std::vector<Entry> delivery = entries;
    for (const Entry& entry : entries) {
      if (*rc::gen::inRange(0, 3) == 0) delivery.push_back(entry);
    }
    const auto order =
        *rc::gen::container<std::vector<uint32_t>>(delivery.size(), rc::gen::arbitrary<uint32_t>());
    std::vector<size_t> index(delivery.size());
    for (size_t i = 0; i < index.size(); ++i) index[i] = i;
    std::sort(index.begin(), index.end(), [&](size_t a, size_t b) { return order[a] < order[b]; });
    std::vector<Entry> shuffled_delivery;
    for (size_t i : index) shuffled_delivery.push_back(delivery[i]);
    delivery = std::move(shuffled_delivery);
    size_t at = 0;
    while (at < delivery.size()) {
      const size_t n = *rc::gen::inRange<size_t>(1, delivery.size() - at + 1);
      RC_ASSERT(Feed(&shuffled, {delivery.begin() + at, delivery.begin() + at + n}).ok());
      at += n;
    }
    RC_ASSERT(StateBytes(in_order) == StateBytes(shuffled));
    // And the winner of each key is the greatest (hlc, origin) written to it.
    for (const Entry& entry : entries) {
      auto winner = in_order.Get(entry.key);
      RC_ASSERT(winner.ok() && winner->has_value());
      RC_ASSERT(!Wins(entry, **winner));
    }
  });
}

TEST_CASE("the hybrid clock never goes back, across clock jumps and restarts", "[unit]") {
  rc::prop("stamps strictly increase", [] {
    const auto steps = *rc::gen::container<std::vector<std::pair<int64_t, bool>>>(
        rc::gen::pair(rc::gen::inRange<int64_t>(-100000, 100000), rc::gen::arbitrary<bool>()));
    uint64_t wall = 1'700'000'000'000;
    HybridClock clock;
    Hlc last = 0;
    for (const auto& [jump, restart] : steps) {
      wall = static_cast<uint64_t>(static_cast<int64_t>(wall) + jump);  // jumps back and forth
      if (restart) clock = HybridClock(clock.last());  // a restart resumes from the persisted mark
      const Hlc stamp = clock.Now(wall);
      RC_ASSERT(stamp > last);
      RC_ASSERT(HlcMillis(stamp) >= wall);
      last = stamp;
    }
  });
  HybridClock clock;
  CHECK_FALSE(clock.Observe(HlcFromMillis(10'000'000), 1000));  // too far ahead: not adopted
  CHECK(clock.rejected() == 1);
  CHECK(clock.Observe(HlcFromMillis(2000), 1000));
  CHECK(clock.Now(1000) > HlcFromMillis(2000));
}

// Replicas wired by hand: requests are answered at once (or fail when a peer is down).
class Cluster {
 public:
  explicit Cluster(int n, ReplicaOptions options = {}) : options_(options) {
    for (int i = 0; i < n; ++i) {
      nodes_.push_back(std::make_unique<Node>());
      nodes_.back()->storage = std::make_unique<MemoryStorage>();
      Boot(i);
    }
    UpdatePeers();
  }
  static std::string Name(int i) { return "node-" + std::to_string(i); }

  void Boot(int i) {
    Node& node = *nodes_[i];
    node.replica = std::make_unique<Replica>(options_, Name(i), node.storage.get(), 100 + i);
    REQUIRE(node.replica->Open(wall_, 0xabc0 + i + 16 * node.lives++).ok());
    node.up = true;
  }
  void Crash(int i) {
    nodes_[i]->up = false;
    nodes_[i]->storage->Crash();
  }
  void Wipe(int i) { nodes_[i]->storage = std::make_unique<MemoryStorage>(); }
  Replica& replica(int i) { return *nodes_[i]->replica; }
  std::vector<StoreOutbox::Ack>& acks(int i) { return nodes_[i]->acks; }

  void UpdatePeers() {
    std::vector<std::string> live;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i]->up) live.push_back(Name(static_cast<int>(i)));
    }
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i]->up) continue;
      StoreOutbox out;
      nodes_[i]->replica->SetLivePeers(now_, live, &out);
      Drain(static_cast<int>(i), &out);
    }
  }

  uint64_t Write(int i, const std::string& key, const std::string& value, AckMode mode) {
    auto ticket = replica(i).Write(now_, wall_, key, value, false, mode, now_ + Seconds(5));
    REQUIRE(ticket.ok());
    StoreOutbox out;
    REQUIRE(replica(i).Flush(now_, &out).ok());
    Drain(i, &out);
    return *ticket;
  }

  void RunFor(Duration duration) {
    const Instant end = now_ + duration;
    while (true) {
      Instant next = end;
      for (auto& node : nodes_) {
        if (node->up) next = std::min(next, node->replica->NextWake());
      }
      if (next >= end) break;
      now_ = std::max(now_, next);
      wall_ = 1'700'000'000'000 + static_cast<uint64_t>(ToMilliseconds(now_ - Instant{}));
      for (size_t i = 0; i < nodes_.size(); ++i) {
        if (!nodes_[i]->up || nodes_[i]->replica->NextWake() > now_) continue;
        StoreOutbox out;
        nodes_[i]->replica->Tick(now_, wall_, &out);
        Drain(static_cast<int>(i), &out);
      }
    }
    now_ = end;
  }

  bool Converged() {
    std::string first;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i]->up) continue;
      const std::string bytes = StateBytes(*nodes_[i]->replica);
      if (first.empty()) first = bytes;
      if (bytes != first) return false;
    }
    return true;
  }

 private:
  struct Node {
    std::unique_ptr<MemoryStorage> storage;
    std::unique_ptr<Replica> replica;
    bool up = true;
    int lives = 0;
    std::vector<StoreOutbox::Ack> acks;
  };

  int IndexOf(const std::string& name) const {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (Name(static_cast<int>(i)) == name) return static_cast<int>(i);
    }
    return -1;
  }

  void Drain(int from, StoreOutbox* out) {
    std::deque<std::pair<int, StoreOutbox>> work;
    work.emplace_back(from, std::move(*out));
    out->Clear();
    while (!work.empty()) {
      auto [i, box] = std::move(work.front());
      work.pop_front();
      for (auto& ack : box.acks) nodes_[i]->acks.push_back(ack);
      for (const std::string& bytes : box.broadcasts) {
        for (size_t j = 0; j < nodes_.size(); ++j) {
          if (static_cast<int>(j) == i || !nodes_[j]->up) continue;
          StoreOutbox next;
          (void)nodes_[j]->replica->OnBroadcast(now_, wall_, bytes, &next);
          work.emplace_back(static_cast<int>(j), std::move(next));
        }
      }
      for (auto& request : box.requests) {
        const int to = IndexOf(request.peer);
        StoreOutbox mine;
        if (to < 0 || !nodes_[to]->up) {
          nodes_[i]->replica->OnRequestFailed(now_, request.peer, &mine);
        } else {
          StoreOutbox theirs;
          auto reply = nodes_[to]->replica->OnRequest(now_, wall_, request.bytes, &theirs);
          work.emplace_back(to, std::move(theirs));
          if (reply.ok()) {
            REQUIRE(nodes_[i]->replica->OnReply(now_, wall_, request.peer, *reply, &mine).ok());
          } else {
            nodes_[i]->replica->OnRequestFailed(now_, request.peer, &mine);
          }
        }
        work.emplace_back(i, std::move(mine));
      }
    }
  }

  ReplicaOptions options_;
  std::vector<std::unique_ptr<Node>> nodes_;
  Instant now_{};
  uint64_t wall_ = 1'700'000'000'000;
};

TEST_CASE("a write is acknowledged once another live node holds it", "[core]") {
  Cluster c(3);
  const uint64_t ticket = c.Write(0, "site/a", "1", AckMode::kOne);
  REQUIRE(c.acks(0).size() == 1);
  CHECK(c.acks(0)[0].ticket == ticket);
  CHECK(c.acks(0)[0].status.ok());
  c.RunFor(Seconds(2));
  CHECK(c.Converged());
  auto got = c.replica(2).Get("site/a");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->value == "1");
}

TEST_CASE("all-live waits for every live node; alone, a write times out saying what is known",
          "[core]") {
  Cluster c(3);
  c.Write(1, "site/b", "x", AckMode::kAllLive);
  REQUIRE(c.acks(1).size() == 1);
  CHECK(c.acks(1)[0].status.ok());
  for (int i : {0, 2}) CHECK(c.replica(i).Get("site/b")->has_value());

  Cluster alone(1);
  alone.Write(0, "site/c", "y", AckMode::kOne);
  CHECK(alone.acks(0).empty());
  alone.RunFor(Seconds(6));
  REQUIRE(alone.acks(0).size() == 1);
  CHECK(alone.acks(0)[0].status.code() == StatusCode::kTimeout);
  CHECK(alone.acks(0)[0].status.message().find("durable on this node") != std::string::npos);
  CHECK(alone.acks(0)[0].status.message().find("held by 0 of 0") != std::string::npos);
}

TEST_CASE("a crash loses only unsynced writes and never reuses a sequence number", "[core]") {
  ReplicaOptions options;
  options.sync_every_batch = false;
  Cluster c(2, options);
  c.Write(0, "k/1", "synced", AckMode::kOne);
  c.RunFor(Seconds(1));
  REQUIRE(c.acks(0).size() == 1);
  REQUIRE(c.acks(0)[0].status.ok());
  const uint64_t head = c.replica(0).heads().at(c.replica(0).origin());
  c.Write(0, "k/2", "lost", AckMode::kLocal);  // written, not yet synced, not yet sent
  c.Crash(0);
  c.Boot(0);
  CHECK(c.replica(0).heads().at(c.replica(0).origin()) == head);
  CHECK_FALSE(c.replica(0).Get("k/2")->has_value());
  c.UpdatePeers();
  c.Write(0, "k/3", "after", AckMode::kOne);
  c.RunFor(Seconds(2));
  CHECK(c.Converged());
  CHECK((*c.replica(1).Get("k/1"))->value == "synced");
  CHECK((*c.replica(1).Get("k/3"))->value == "after");
  CHECK_FALSE(c.replica(1).Get("k/2")->has_value());
}

TEST_CASE("superseded entries are compacted; a new node gets a snapshot", "[core]") {
  ReplicaOptions options;
  options.compaction_interval = Seconds(1);
  options.max_batch_entries = 7;  // several snapshot pages
  Cluster c(3, options);
  for (int round = 0; round < 5; ++round) {
    for (int k = 0; k < 10; ++k) {
      c.Write(round % 2, fmt::format("k/{}", k), fmt::format("v{}", round), AckMode::kOne);
    }
  }
  c.RunFor(Seconds(5));
  REQUIRE(c.Converged());
  CHECK(c.replica(0).stats().compacted > 0);
  CHECK(c.replica(0).floors().size() >= 1);

  // Node 2 loses its disk: it comes back as a new store, behind every floor.
  c.Crash(2);
  c.Wipe(2);
  c.Boot(2);
  c.UpdatePeers();
  c.RunFor(Seconds(5));
  CHECK(c.replica(2).stats().snapshots_received >= 1);
  CHECK(c.Converged());
  CHECK((*c.replica(2).Get("k/9"))->value == "v4");
}

}  // namespace
}  // namespace starling::store
