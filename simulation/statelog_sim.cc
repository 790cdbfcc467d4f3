#include "simulation/statelog_sim.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>

#include "base/rng.h"
#include "store/memory_storage.h"
#include "store/replica.h"

namespace starling::sim {
namespace {

using store::AckMode;
using store::Entry;
using store::Replica;
using store::StoreOutbox;

constexpr uint64_t kWallEpochMs = 1'700'000'000'000;

class StateLogSim {
 public:
  explicit StateLogSim(const StateLogSimOptions& options) : options_(options), rng_(options.seed) {
    report_.seed = options.seed;
    for (size_t i = 0; i < options_.nodes; ++i) {
      nodes_.push_back(std::make_unique<Node>());
      Node& node = *nodes_.back();
      node.name = fmt::format("node-{}", i);
      node.storage = std::make_unique<store::MemoryStorage>();
      node.skew = SkewDraw();
    }
  }

  StateLogReport Run() {
    for (size_t i = 0; i < nodes_.size(); ++i) Boot(i);
    UpdateMembership();
    At(Start(), [this] { WriteSomething(); });
    PlanFaults();
    At(Start() + Milliseconds(100), [this] { CheckConvergence(); });
    const Instant end = Start() + options_.duration;
    while (!queue_.empty() && queue_.begin()->first.first <= end) {
      auto it = queue_.begin();
      now_ = it->first.first;
      auto action = std::move(it->second);
      queue_.erase(it);
      action();
    }
    now_ = end;
    Finish();
    return report_;
  }

 private:
  struct Node {
    std::string name;
    std::unique_ptr<store::MemoryStorage> storage;
    std::unique_ptr<Replica> replica;
    bool up = false;
    int life = 0;
    int side = 0;  // partition side
    Duration skew{};
    Instant scheduled = kInstantMax;
  };

  static Instant Start() { return Instant{}; }

  Duration SkewDraw() {
    const auto range = options_.clock_skew.count();
    if (range == 0) return Duration::zero();
    return Duration(static_cast<int64_t>(rng_.Uniform(static_cast<uint64_t>(2 * range + 1))) -
                    range);
  }

  uint64_t Wall(const Node& node) const {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now_.time_since_epoch() + node.skew)
            .count();
    return kWallEpochMs + static_cast<uint64_t>(ms);
  }

  void At(Instant when, std::function<void()> action) {
    queue_.emplace(std::make_pair(when, next_event_++), std::move(action));
  }

  bool Reachable(size_t a, size_t b) const {
    return nodes_[a]->up && nodes_[b]->up && nodes_[a]->side == nodes_[b]->side;
  }

  size_t IndexOf(const std::string& name) const {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i]->name == name) return i;
    }
    return nodes_.size();
  }

  void Boot(size_t i) {
    Node& node = *nodes_[i];
    store::ReplicaOptions replica_options;
    if (options_.interval_sync && i % 2 == 1) replica_options.sync_every_batch = false;
    replica_options.compaction_interval = Seconds(5);
    node.replica =
        std::make_unique<Replica>(replica_options, node.name, node.storage.get(), rng_.Next());
    if (Status s = node.replica->Open(Wall(node), rng_.Next()); !s.ok()) {
      report_.violations.push_back(node.name + " cannot reopen its store: " + s.ToString());
    }
    node.up = true;
    node.scheduled = kInstantMax;
    Step(i, [&](StoreOutbox* out) { node.replica->SetLivePeers(now_, LivePeersOf(i), out); });
  }

  std::vector<std::string> LivePeersOf(size_t i) const {
    std::vector<std::string> live;
    for (size_t j = 0; j < nodes_.size(); ++j) {
      if (j != i && Reachable(i, j)) live.push_back(nodes_[j]->name);
    }
    return live;
  }

  // What membership would report once it noticed.
  void UpdateMembership() {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i]->up) continue;
      Step(i,
           [&](StoreOutbox* out) { nodes_[i]->replica->SetLivePeers(now_, LivePeersOf(i), out); });
    }
  }
  void MembershipChanged() {
    At(now_ + options_.detection_delay, [this] { UpdateMembership(); });
  }

  template <typename F>
  void Step(size_t i, F&& f) {
    StoreOutbox out;
    f(&out);
    Drain(i, &out);
  }

  void Drain(size_t i, StoreOutbox* out) {
    Node& node = *nodes_[i];
    const int life = node.life;
    for (auto& ack : out->acks) {
      if (ack.status.ok()) {
        ++report_.writes_acknowledged;
        acknowledged_.push_back(ack.entry);
      } else {
        ++report_.writes_failed;
      }
    }
    for (auto& bytes : out->broadcasts) {
      for (size_t j = 0; j < nodes_.size(); ++j) {
        if (j == i || !Reachable(i, j) || rng_.Bernoulli(options_.loss)) continue;
        const int their_life = nodes_[j]->life;
        At(now_ + options_.latency, [this, j, their_life, bytes] {
          Node& to = *nodes_[j];
          if (!to.up || to.life != their_life) return;
          Step(j, [&](StoreOutbox* o) {
            to.replica->OnBroadcast(now_, Wall(to), bytes, o).IgnoreError();
          });
        });
      }
    }
    for (auto& request : out->requests) {
      ++report_.requests;
      const size_t j = IndexOf(request.peer);
      auto fail = [this, i, life, peer = request.peer](Duration after) {
        At(now_ + after, [this, i, life, peer] {
          Node& from = *nodes_[i];
          if (!from.up || from.life != life) return;
          Step(i, [&](StoreOutbox* o) { from.replica->OnRequestFailed(now_, peer, o); });
        });
      };
      if (j >= nodes_.size() || !Reachable(i, j) || rng_.Bernoulli(options_.loss)) {
        fail(options_.request_timeout);
        continue;
      }
      const int their_life = nodes_[j]->life;
      At(now_ + options_.latency, [this, i, j, life, their_life, request, fail] {
        Node& to = *nodes_[j];
        if (!to.up || to.life != their_life || !Reachable(i, j)) {
          fail(options_.request_timeout);
          return;
        }
        Result<std::string> reply = Status::Unavailable("");
        Step(j, [&](StoreOutbox* o) {
          reply = to.replica->OnRequest(now_, Wall(to), request.bytes, o);
        });
        if (!reply.ok() || rng_.Bernoulli(options_.loss)) {
          fail(options_.request_timeout);
          return;
        }
        At(now_ + options_.latency, [this, i, j, life, reply = *reply, peer = request.peer, fail] {
          Node& from = *nodes_[i];
          if (!from.up || from.life != life) return;
          if (!Reachable(i, j)) {
            fail(options_.request_timeout);
            return;
          }
          Step(i, [&](StoreOutbox* o) {
            Status s = from.replica->OnReply(now_, Wall(from), peer, reply, o);
            if (!s.ok()) report_.violations.push_back("bad reply: " + s.ToString());
          });
        });
      });
    }
    out->Clear();
    if (node.up && node.life == life) Schedule(i);
  }

  void Schedule(size_t i) {
    Node& node = *nodes_[i];
    const Instant wake = std::max(now_, node.replica->NextWake());
    if (wake >= node.scheduled) return;
    node.scheduled = wake;
    const int life = node.life;
    At(wake, [this, i, life, wake] {
      Node& n = *nodes_[i];
      if (!n.up || n.life != life || n.scheduled != wake) return;
      n.scheduled = kInstantMax;
      Step(i, [&](StoreOutbox* o) { n.replica->Tick(now_, Wall(n), o); });
    });
  }

  void WriteSomething() {
    if (now_ >= Start() + options_.writes_end) return;
    At(now_ + options_.write_interval, [this] { WriteSomething(); });
    std::vector<size_t> up;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i]->up) up.push_back(i);
    }
    if (up.empty()) return;
    const size_t i = up[rng_.Uniform(up.size())];
    Node& node = *nodes_[i];
    const std::string key = fmt::format("k/{}", rng_.Uniform(options_.keys));
    auto ticket = node.replica->Write(now_, Wall(node), key, fmt::format("w{}", ++writes_), false,
                                      AckMode::kOne, now_ + Seconds(5));
    if (!ticket.ok()) {
      report_.violations.push_back("write refused: " + ticket.status().ToString());
      return;
    }
    Step(i, [&](StoreOutbox* o) {
      if (Status s = node.replica->Flush(now_, o); !s.ok()) {
        report_.violations.push_back("flush failed: " + s.ToString());
      }
    });
  }

  Instant FaultTime() {
    const auto span = (options_.faults_end - options_.faults_start).count();
    return Start() + options_.faults_start +
           Duration(span > 0 ? static_cast<int64_t>(rng_.Uniform(static_cast<uint64_t>(span))) : 0);
  }

  void PlanFaults() {
    last_fault_ = Start();
    for (int c = 0; c < options_.crashes; ++c) {
      const Instant at = FaultTime();
      const size_t i = rng_.Uniform(nodes_.size());
      last_fault_ = std::max(last_fault_, at + options_.restart_delay);
      At(at, [this, i] {
        Node& node = *nodes_[i];
        if (!node.up) return;
        node.up = false;
        ++node.life;
        node.storage->Crash();  // a power cut: the unsynced tail is gone
        node.replica.reset();
        MembershipChanged();
        At(now_ + options_.restart_delay, [this, i] {
          nodes_[i]->skew = SkewDraw();  // the clock may come back elsewhere, even earlier
          Boot(i);
          MembershipChanged();
        });
      });
    }
    Instant next_partition = Start() + options_.faults_start;
    for (int p = 0; p < options_.partitions; ++p) {
      const Instant at = std::max(next_partition, FaultTime());
      const Instant heal = at + options_.partition_duration;
      next_partition = heal + Seconds(1);
      last_fault_ = std::max(last_fault_, heal);
      last_heal_ = std::max(last_heal_, heal);
      std::vector<int> sides(nodes_.size(), 0);
      for (size_t i = 0; i < nodes_.size(); ++i) sides[i] = rng_.Bernoulli(0.4) ? 1 : 0;
      // A real split: both sides hold someone.
      if (std::count(sides.begin(), sides.end(), 1) == 0) sides[0] = 1;
      if (std::count(sides.begin(), sides.end(), 0) == 0) sides[0] = 0;
      At(at, [this, sides] {
        for (size_t i = 0; i < nodes_.size(); ++i) nodes_[i]->side = sides[i];
        MembershipChanged();
      });
      At(heal, [this] {
        for (auto& node : nodes_) node->side = 0;
        MembershipChanged();
      });
    }
  }

  std::string StateBytes(Node& node) {
    std::vector<Entry> entries;
    if (!node.replica->Scan("", &entries).ok()) return "<scan failed>";
    std::string bytes;
    for (const Entry& entry : entries) bytes += store::EncodeEntry(entry);
    for (const auto& [origin, head] : node.replica->heads()) {
      bytes += fmt::format("{}={};", origin, head);
    }
    return bytes;
  }

  bool Converged() {
    std::string first;
    bool any = false;
    for (auto& node : nodes_) {
      if (!node->up) return false;
      std::string bytes = StateBytes(*node);
      if (!any) {
        first = std::move(bytes);
        any = true;
      } else if (bytes != first) {
        return false;
      }
    }
    return true;
  }

  void CheckConvergence() {
    const Instant settle_from = std::max(last_fault_, Start() + options_.writes_end);
    if (now_ >= settle_from && report_.converged_after_seconds < 0 && Converged()) {
      report_.converged_after_seconds = ToSeconds(now_ - settle_from);
      if (options_.partitions > 0) report_.partition_heal_seconds = ToSeconds(now_ - last_heal_);
      return;
    }
    At(now_ + Milliseconds(100), [this] { CheckConvergence(); });
  }

  void Finish() {
    const Instant settle_from = std::max(last_fault_, Start() + options_.writes_end);
    const Instant end = Start() + options_.duration;
    if (report_.converged_after_seconds < 0 && end - settle_from >= options_.settle_bound) {
      report_.violations.push_back(fmt::format(
          "invariant 1: replicas hold different states {:.1f}s after the last fault and write",
          ToSeconds(end - settle_from)));
    } else if (report_.converged_after_seconds > ToSeconds(options_.settle_bound)) {
      report_.violations.push_back(
          fmt::format("invariant 1: one state only {:.1f}s after the last fault (bound {:.1f}s)",
                      report_.converged_after_seconds, ToSeconds(options_.settle_bound)));
    }
    // Invariant 4: no acknowledged write is lost (its key holds it, or something newer).
    size_t lost = 0;
    std::string example;
    for (auto& node : nodes_) {
      if (!node->up) continue;
      report_.compacted += node->replica->stats().compacted;
      report_.snapshots += node->replica->stats().snapshots_received;
      for (const Entry& entry : acknowledged_) {
        auto held = node->replica->Get(entry.key);
        const bool kept = held.ok() && held->has_value() && !store::Wins(entry, **held) &&
                          (!store::Wins(**held, entry) ? (*held)->value == entry.value : true);
        if (!kept) {
          ++lost;
          if (example.empty()) {
            example =
                fmt::format("{} lacks {} #{} ({})", node->name, entry.origin, entry.seq, entry.key);
          }
        }
      }
    }
    if (lost > 0) {
      report_.violations.push_back(
          fmt::format("invariant 4: {} acknowledged writes missing, e.g. {}", lost, example));
    }
  }

  StateLogSimOptions options_;
  Rng rng_;
  StateLogReport report_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::multimap<std::pair<Instant, uint64_t>, std::function<void()>> queue_;
  uint64_t next_event_ = 0;
  Instant now_{};
  Instant last_fault_{};
  Instant last_heal_{};
  uint64_t writes_ = 0;
  std::vector<Entry> acknowledged_;
};

}  // namespace

std::string StateLogReport::Format() const {
  std::string out = fmt::format(
      "seed {}  acknowledged {}  not acknowledged {}  requests {}  one state after {:.2f}s", seed,
      writes_acknowledged, writes_failed, requests, converged_after_seconds);
  if (partition_heal_seconds >= 0) {
    out += fmt::format("  (after the heal: {:.2f}s)", partition_heal_seconds);
  }
  out += fmt::format("  compacted {}  snapshots {}\n", compacted, snapshots);
  for (const auto& violation : violations) out += "  VIOLATION " + violation + "\n";
  return out;
}

StateLogReport RunStateLogSim(const StateLogSimOptions& options) {
  return StateLogSim(options).Run();
}

}  // namespace starling::sim
