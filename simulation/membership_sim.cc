#include "simulation/membership_sim.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <unordered_map>

#include "base/rng.h"
#include "gossip/codec.h"
#include "gossip/swim.h"

namespace starling::sim {
namespace {

using gossip::Address;
using gossip::MemberEvent;
using gossip::MemberStatus;
using gossip::Outbox;
using gossip::StreamRequest;
using gossip::Swim;

enum class Kind {
  kWake,
  kDatagram,
  kStreamArrive,   // a stream request reaches its target
  kStreamReply,    // the target's answer reaches the requester
  kStreamFailed,   // the requester learns the attempt failed
  kStreamRefused,  // the requester's connection was refused
  kCrash,
  kRestart,
  kPartitionStart,
  kPartitionEnd,
  kSlowStart,
  kSlowEnd,
  kUserEvent,
  kCheck,
  kStart,
};

struct Event {
  Instant at;
  uint64_t order;  // FIFO among equal times, so runs replay exactly
  Kind kind;
  uint32_t node = 0;  // the node the event happens to
  uint32_t peer = 0;  // the other end, where there is one
  uint64_t life = 0;  // the node's life the event belongs to (stale after a crash)
  std::string bytes;
  StreamRequest request;
};

struct Later {
  bool operator()(const Event& a, const Event& b) const {
    return a.at != b.at ? a.at > b.at : a.order > b.order;
  }
};

struct Node {
  std::unique_ptr<Swim> core;
  Address address;
  std::string name;
  bool up = false;
  uint64_t life = 0;
  uint32_t incarnation = 0;  // persisted across restarts, as the agent does
  Instant wake_at = kInstantMax;
  Duration slow = Duration::zero();
  int group = 0;  // partition group
  uint64_t bytes_sent_earlier_lives = 0;
};

struct CrashRecord {
  uint32_t node;
  uint32_t incarnation;
  Instant at;
  std::optional<Instant> first;
  std::vector<char> needed;  // observers that must learn of it
  size_t remaining = 0;
  bool closed = false;
};

struct EventRecord {
  uint32_t origin;
  std::string name;
  Instant at;
  std::vector<char> needed;
  size_t remaining = 0;
  bool closed = false;
};

class Simulation {
 public:
  explicit Simulation(const MembershipSimOptions& options)
      : options_(options), rng_(options.seed), nodes_(options.nodes) {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      Node& node = nodes_[i];
      node.name = fmt::format("node-{:05d}", i);
      // Labels only: no packet leaves the process.
      node.address =
          Address{fmt::format("127.{}.{}.{}", 1 + i / 65536, (i / 256) % 256, i % 256), 7946};
      by_address_[node.address.host] = static_cast<uint32_t>(i);
    }
    report_.seed = options.seed;
    report_.nodes = options.nodes;
  }

  MembershipReport Run() {
    const auto wall_start = std::chrono::steady_clock::now();
    Schedule();
    const Instant end = Start() + options_.duration;
    while (!queue_.empty() && queue_.top().at <= end) {
      Event event = std::move(const_cast<Event&>(queue_.top()));
      queue_.pop();
      now_ = event.at;
      ++report_.events_processed;
      Dispatch(event);
    }
    Finish();
    report_.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    return std::move(report_);
  }

 private:
  static Instant Start() { return Instant(Seconds(1)); }

  void Push(Instant at, Kind kind, uint32_t node, uint32_t peer = 0, uint64_t life = 0,
            std::string bytes = {}, StreamRequest request = {}) {
    queue_.push(
        Event{at, next_order_++, kind, node, peer, life, std::move(bytes), std::move(request)});
  }

  Duration Uniform(Duration from, Duration to) {
    if (to <= from) return from;
    return from + Duration(rng_.Uniform(static_cast<uint64_t>((to - from).count())));
  }

  void Schedule() {
    const Instant start = Start();
    for (uint32_t i = 0; i < nodes_.size(); ++i) {
      // A warm cluster is already running: everyone is up at once.
      const Duration window = options_.warm_start ? Duration::zero() : options_.join_window;
      Push(start + Uniform(Duration::zero(), window), Kind::kStart, i);
    }
    const auto& f = options_.faults;
    const Instant faults_start = start + f.faults_start;
    const Instant faults_end = start + f.faults_end;
    last_fault_ = start;
    for (int i = 0; i < f.crashes; ++i) {
      const auto victim = static_cast<uint32_t>(rng_.Uniform(nodes_.size()));
      const Instant at = faults_start + Uniform(Duration::zero(), faults_end - faults_start);
      Push(at, Kind::kCrash, victim);
      last_fault_ = std::max(last_fault_, at);
      if (rng_.Bernoulli(f.restart_fraction)) {
        Push(at + f.restart_delay, Kind::kRestart, victim);
        last_fault_ = std::max(last_fault_, at + f.restart_delay);
      }
    }
    // Partitions one at a time, laid end to end inside the fault window.
    if (f.partitions > 0) {
      const Duration slot = (faults_end - faults_start) / f.partitions;
      for (int i = 0; i < f.partitions; ++i) {
        const Instant at =
            faults_start + slot * i +
            Uniform(Duration::zero(), std::max(Duration::zero(), slot - f.partition_duration));
        Push(at, Kind::kPartitionStart, 0);
        Push(at + f.partition_duration, Kind::kPartitionEnd, 0);
        last_fault_ = std::max(last_fault_, at + f.partition_duration);
      }
    }
    for (int i = 0; i < f.slow_nodes; ++i) {
      const auto victim = static_cast<uint32_t>(rng_.Uniform(nodes_.size()));
      const Instant at = faults_start + Uniform(Duration::zero(), faults_end - faults_start);
      Push(at, Kind::kSlowStart, victim);
      Push(at + f.slow_duration, Kind::kSlowEnd, victim);
      last_fault_ = std::max(last_fault_, at + f.slow_duration);
    }
    for (Instant at = start + options_.join_window + options_.event_interval;
         at < start + options_.duration; at += options_.event_interval) {
      Push(at, Kind::kUserEvent, 0);
    }
    Push(start + options_.check_interval, Kind::kCheck, 0);
    const auto& swim = options_.swim;
    const double log_n = std::max(1.0, std::log10(static_cast<double>(nodes_.size())));
    const double suspicion_max = ToSeconds(swim.probe_interval) * swim.suspicion_mult * log_n *
                                 swim.suspicion_max_timeout_mult * swim.awareness_max_multiplier;
    // A fault at the very end needs a probe round, the longest suspicion (Lifeguard's maximum
    // under the worst local-health multiplier), a reconnect and some gossip to settle.
    report_window_after_partition_ =
        std::chrono::duration_cast<Duration>(std::chrono::duration<double>(suspicion_max));
    report_.convergence_bound_seconds = suspicion_max + 2 * ToSeconds(swim.reconnect_interval) + 10;
  }

  void Dispatch(Event& event) {
    switch (event.kind) {
      case Kind::kStart:
        StartNode(event.node, /*restart=*/false);
        break;
      case Kind::kWake: {
        Node& node = nodes_[event.node];
        if (!node.up || event.life != node.life || node.wake_at != event.at) return;
        node.wake_at = kInstantMax;
        Outbox out;
        node.core->Tick(now_, &out);
        Drain(event.node, &out);
        break;
      }
      case Kind::kDatagram: {
        Node& node = nodes_[event.node];
        if (!node.up || !Reachable(event.peer, event.node)) return;
        Outbox out;
        node.core->OnDatagram(now_, nodes_[event.peer].address, event.bytes, &out).IgnoreError();
        Drain(event.node, &out);
        break;
      }
      case Kind::kStreamArrive:
        StreamArrive(event);
        break;
      case Kind::kStreamReply: {
        Node& node = nodes_[event.node];
        if (!node.up || node.life != event.life) return;
        Outbox out;
        if (event.request.kind == StreamRequest::Kind::kPushPull) {
          node.core->OnPushPullReply(now_, event.bytes, &out).IgnoreError();
        } else {
          node.core->OnDatagram(now_, nodes_[event.peer].address, event.bytes, &out).IgnoreError();
        }
        Drain(event.node, &out);
        break;
      }
      case Kind::kStreamFailed:
      case Kind::kStreamRefused: {
        Node& node = nodes_[event.node];
        if (!node.up || node.life != event.life) return;
        Outbox out;
        if (event.kind == Kind::kStreamRefused &&
            event.request.kind == StreamRequest::Kind::kProbe) {
          node.core->OnProbeRefused(now_, event.request.target, event.request.seq, &out);
        } else {
          node.core->OnStreamFailed(now_, event.request, &out);
        }
        Drain(event.node, &out);
        break;
      }
      case Kind::kCrash:
        Crash(event.node);
        break;
      case Kind::kRestart:
        if (!nodes_[event.node].up) StartNode(event.node, /*restart=*/true);
        break;
      case Kind::kPartitionStart:
        partition_active_ = true;
        for (Node& node : nodes_) {
          node.group = rng_.Bernoulli(options_.faults.partition_fraction) ? 1 : 0;
        }
        break;
      case Kind::kPartitionEnd:
        partition_active_ = false;
        last_partition_end_ = now_;
        for (Node& node : nodes_) node.group = 0;
        break;
      case Kind::kSlowStart:
        nodes_[event.node].slow = options_.faults.slow_delay;
        break;
      case Kind::kSlowEnd:
        nodes_[event.node].slow = Duration::zero();
        break;
      case Kind::kUserEvent:
        SendUserEvent();
        break;
      case Kind::kCheck:
        Check();
        Push(now_ + options_.check_interval, Kind::kCheck, 0);
        break;
    }
  }

  void StartNode(uint32_t index, bool restart) {
    Node& node = nodes_[index];
    node.up = true;
    ++node.life;
    ++node.incarnation;
    gossip::NodeMeta meta{gossip::Role::kWorker, 8, node.address.host + ":8946", "sim"};
    node.core = std::make_unique<Swim>(options_.swim, node.name, node.address, meta,
                                       node.incarnation, rng_.Next(), now_, profiles_);
    std::vector<Address> seeds;
    // The first node is the seed everyone joins; restarted nodes join any three live nodes.
    if (!restart && index != 0) seeds.push_back(nodes_[0].address);
    for (int tries = 0; restart && seeds.size() < 3 && tries < 32; ++tries) {
      const auto other = static_cast<uint32_t>(rng_.Uniform(nodes_.size()));
      if (other != index && nodes_[other].up) seeds.push_back(nodes_[other].address);
    }
    Outbox out;
    if (options_.warm_start && !restart) {
      node.core->Restore(now_, WarmState(), &out);
    } else if (!seeds.empty()) {
      node.core->Join(now_, seeds, &out);
    }
    Drain(index, &out);
  }

  // What a running cluster's members know: every member alive at incarnation 1.
  const std::vector<gossip::MemberEntry>& WarmState() {
    if (warm_state_.empty()) {
      for (const Node& node : nodes_) {
        warm_state_.push_back(
            {node.name, node.address,
             gossip::NodeMeta{gossip::Role::kWorker, 8, node.address.host + ":8946", "sim"}, 1,
             MemberStatus::kAlive});
      }
    }
    return warm_state_;
  }

  void Crash(uint32_t index) {
    Node& node = nodes_[index];
    if (!node.up) return;
    node.incarnation = node.core->incarnation();
    node.bytes_sent_earlier_lives +=
        node.core->stats().bytes_sent + node.core->stats().stream_bytes_sent;
    node.core.reset();
    node.up = false;
    node.wake_at = kInstantMax;
    for (auto& record : crashes_) {  // a crashed observer no longer needs to learn anything
      if (!record.closed && record.needed[index]) {
        record.needed[index] = 0;
        --record.remaining;
      }
    }
    for (auto& record : events_) {
      if (!record.closed && record.needed[index]) {
        record.needed[index] = 0;
        --record.remaining;
      }
    }
    CrashRecord record{index, node.incarnation, now_, std::nullopt,
                       std::vector<char>(nodes_.size(), 0)};
    for (uint32_t i = 0; i < nodes_.size(); ++i) {
      if (i != index && nodes_[i].up) {
        record.needed[i] = 1;
        ++record.remaining;
      }
    }
    open_crash_[index] = crashes_.size();
    crashes_.push_back(std::move(record));
    CloseFinished();
  }

  bool Reachable(uint32_t from, uint32_t to) const {
    return nodes_[from].group == nodes_[to].group;
  }

  Duration Latency(uint32_t from, uint32_t to) {
    const auto& net = options_.network;
    const double jitter =
        -std::log(1.0 - rng_.NextDouble()) * static_cast<double>(net.jitter.count());
    return net.latency + Duration(static_cast<int64_t>(jitter)) + nodes_[from].slow +
           nodes_[to].slow;
  }

  void Drain(uint32_t index, Outbox* out) {
    for (auto& send : out->datagrams) {
      auto it = by_address_.find(send.to.host);
      if (it == by_address_.end()) continue;
      const uint32_t to = it->second;
      const int copies = rng_.Bernoulli(options_.network.duplicate) ? 2 : 1;
      for (int c = 0; c < copies; ++c) {
        if (rng_.Bernoulli(options_.network.loss)) continue;
        Push(now_ + Latency(index, to), Kind::kDatagram, to, index, 0, send.bytes);
      }
    }
    for (auto& request : out->streams) {
      auto it = by_address_.find(request.to.host);
      if (it == by_address_.end()) continue;
      const uint32_t to = it->second;
      const uint64_t life = nodes_[index].life;
      if (!Reachable(index, to) || (!nodes_[to].up && options_.faults.silent_crashes)) {
        Push(now_ + options_.network.connect_timeout, Kind::kStreamFailed, index, to, life, {},
             std::move(request));
      } else if (!nodes_[to].up) {
        Push(now_ + 2 * Latency(index, to), Kind::kStreamRefused, index, to, life, {},
             std::move(request));
      } else {
        std::string bytes = request.bytes;
        Push(now_ + Latency(index, to), Kind::kStreamArrive, to, index, life, std::move(bytes),
             std::move(request));
      }
    }
    for (auto& event : out->events) Observe(index, event);
    out->Clear();
    Node& node = nodes_[index];
    if (!node.up) return;
    const Instant wake = std::max(node.core->NextWake(), now_);
    if (wake < node.wake_at) {
      node.wake_at = wake;
      Push(wake, Kind::kWake, index, 0, node.life);
    }
  }

  void StreamArrive(Event& event) {
    const uint32_t target = event.node;
    const uint32_t requester = event.peer;
    Node& node = nodes_[target];
    if (!Reachable(requester, target)) {
      Push(now_ + options_.network.connect_timeout, Kind::kStreamFailed, requester, target,
           event.life, {}, std::move(event.request));
      return;
    }
    if (!node.up) {
      Push(now_ + Latency(target, requester), Kind::kStreamRefused, requester, target, event.life,
           {}, std::move(event.request));
      return;
    }
    Outbox out;
    Result<std::string> reply = event.request.kind == StreamRequest::Kind::kPushPull
                                    ? node.core->OnPushPullRequest(now_, event.bytes, &out)
                                    : node.core->OnStreamPing(now_, event.bytes);
    Drain(target, &out);
    if (!reply.ok()) {
      Push(now_ + Latency(target, requester), Kind::kStreamFailed, requester, target, event.life,
           {}, std::move(event.request));
      return;
    }
    Push(now_ + Latency(target, requester), Kind::kStreamReply, requester, target, event.life,
         std::move(reply.value()), std::move(event.request));
  }

  void Observe(uint32_t observer, const MemberEvent& event) {
    auto subject = SubjectIndex(event.name);
    switch (event.kind) {
      case MemberEvent::Kind::kSuspect:
      case MemberEvent::Kind::kDead: {
        if (!subject) return;
        const Node& node = nodes_[*subject];
        // Count each declaration once, at the node that made it.
        const bool declared_here = event.from == nodes_[observer].name;
        const bool live_and_reachable = declared_here && node.up && Reachable(observer, *subject) &&
                                        event.incarnation >= node.core->incarnation();
        // A suspicion raised while a partition stood may mature after it heals.
        const bool partition_recent =
            partition_active_ || now_ - last_partition_end_ < report_window_after_partition_;
        if (live_and_reachable && partition_recent) {
          if (event.kind == MemberEvent::Kind::kDead) ++report_.deaths_after_partition;
        } else if (live_and_reachable) {
          if (event.kind == MemberEvent::Kind::kSuspect) {
            ++report_.false_suspicions;
          } else {
            ++report_.false_deaths;
            report_.violations.push_back(fmt::format(
                "false death: {} declared {} dead at t={:.3f}s (from {})", nodes_[observer].name,
                node.name, ToSeconds(now_ - Start()), event.from));
          }
        }
        if (event.kind == MemberEvent::Kind::kDead) MarkDetected(observer, *subject);
        break;
      }
      case MemberEvent::Kind::kLeft:
        if (subject) MarkDetected(observer, *subject);
        break;
      case MemberEvent::Kind::kUserEvent:
        for (auto& record : events_) {
          if (record.closed || record.name != event.event_name) continue;
          if (record.needed[observer]) {
            record.needed[observer] = 0;
            --record.remaining;
          }
        }
        CloseFinished();
        break;
      default:
        break;
    }
  }

  std::optional<uint32_t> SubjectIndex(const std::string& name) const {
    // Names are "node-NNNNN".
    if (name.size() < 6) return std::nullopt;
    const auto index = static_cast<uint32_t>(std::stoul(name.substr(5)));
    return index < nodes_.size() ? std::optional<uint32_t>(index) : std::nullopt;
  }

  void MarkDetected(uint32_t observer, uint32_t subject) {
    auto it = open_crash_.find(subject);
    if (it == open_crash_.end()) return;
    CrashRecord& record = crashes_[it->second];
    if (record.closed) return;
    if (!record.first) record.first = now_;
    if (record.needed[observer]) {
      record.needed[observer] = 0;
      --record.remaining;
    }
    CloseFinished();
  }

  void CloseFinished() {
    for (auto it = open_crash_.begin(); it != open_crash_.end();) {
      CrashRecord& record = crashes_[it->second];
      const bool restarted = nodes_[record.node].up;
      if (record.remaining == 0 && record.first) {
        report_.detection_first.samples.push_back(ToSeconds(*record.first - record.at));
        report_.detection_all.samples.push_back(ToSeconds(now_ - record.at));
        record.closed = true;
      } else if (restarted) {
        ++report_.undetected_crashes;
        record.closed = true;
      }
      it = record.closed ? open_crash_.erase(it) : std::next(it);
    }
    for (auto& record : events_) {
      if (!record.closed && record.remaining == 0) {
        report_.dissemination.samples.push_back(ToSeconds(now_ - record.at));
        record.closed = true;
      }
    }
  }

  void SendUserEvent() {
    for (int tries = 0; tries < 16; ++tries) {
      const auto origin = static_cast<uint32_t>(rng_.Uniform(nodes_.size()));
      if (!nodes_[origin].up) continue;
      EventRecord record{origin, fmt::format("ev-{}", events_.size()), now_,
                         std::vector<char>(nodes_.size(), 0)};
      for (uint32_t i = 0; i < nodes_.size(); ++i) {
        if (nodes_[i].up && Reachable(origin, i)) {
          record.needed[i] = 1;
          ++record.remaining;
        }
      }
      std::string name = record.name;
      events_.push_back(std::move(record));
      Outbox out;
      nodes_[origin].core->SendUserEvent(now_, std::move(name), "", &out).IgnoreError();
      Drain(origin, &out);
      return;
    }
  }

  // True when every live node sees exactly the live nodes as alive and the rest as gone.
  bool Converged() const {
    size_t up = 0;
    for (const Node& node : nodes_) up += node.up ? 1 : 0;
    for (const Node& node : nodes_) {
      if (node.up && node.core->AliveCount() != up) return false;
    }
    for (const Node& observer : nodes_) {
      if (!observer.up) continue;
      for (const Node& subject : nodes_) {
        const gossip::Member* member = observer.core->FindMember(subject.name);
        if (subject.up) {
          if (member == nullptr || member->status != MemberStatus::kAlive) return false;
        } else if (member != nullptr && (member->status == MemberStatus::kAlive ||
                                         member->status == MemberStatus::kSuspect)) {
          return false;
        }
      }
    }
    return true;
  }

  void Check() {
    const bool joined = report_.join_convergence_seconds >= 0;
    const bool settled = report_.convergence_after_faults_seconds >= 0;
    const bool after_faults = now_ >= last_fault_;
    if (joined && (settled || !after_faults)) return;
    if (!Converged()) return;
    if (!joined) report_.join_convergence_seconds = ToSeconds(now_ - Start());
    if (after_faults && !settled) {
      report_.convergence_after_faults_seconds = ToSeconds(now_ - last_fault_);
    }
  }

  void Finish() {
    const Instant end = Start() + options_.duration;
    uint64_t bytes = 0;
    for (const Node& node : nodes_) {
      bytes += node.bytes_sent_earlier_lives;
      if (node.up) bytes += node.core->stats().bytes_sent + node.core->stats().stream_bytes_sent;
    }
    report_.simulated_seconds = ToSeconds(options_.duration);
    report_.bytes_per_node_per_second =
        static_cast<double>(bytes) / static_cast<double>(nodes_.size()) / report_.simulated_seconds;
    for (const auto& record : events_) {
      if (!record.closed) ++report_.undelivered_events;
    }
    if (report_.join_convergence_seconds < 0) {
      report_.violations.push_back("the initial join never converged");
    }
    const double settle_time = ToSeconds(end - last_fault_);
    if (report_.convergence_after_faults_seconds < 0 &&
        settle_time >= report_.convergence_bound_seconds) {
      report_.violations.push_back(fmt::format(
          "invariant 1: no single membership view {:.1f}s after the last fault (bound {:.1f}s)",
          settle_time, report_.convergence_bound_seconds));
    } else if (report_.convergence_after_faults_seconds > report_.convergence_bound_seconds) {
      report_.violations.push_back(
          fmt::format("invariant 1: converged only {:.1f}s after the last fault (bound {:.1f}s)",
                      report_.convergence_after_faults_seconds, report_.convergence_bound_seconds));
    }
  }

  MembershipSimOptions options_;
  Rng rng_;
  std::vector<Node> nodes_;
  // One profile per distinct member fact for all cores: 10,000 cores hold 10^8 member entries.
  std::shared_ptr<gossip::ProfilePool> profiles_ = std::make_shared<gossip::ProfilePool>();
  std::unordered_map<std::string, uint32_t> by_address_;  // lookup only
  std::priority_queue<Event, std::vector<Event>, Later> queue_;
  uint64_t next_order_ = 0;
  Instant now_{};
  Instant last_fault_{};
  bool partition_active_ = false;
  Instant last_partition_end_ = Instant(Seconds(-1000000));
  Duration report_window_after_partition_{};
  std::vector<CrashRecord> crashes_;
  std::map<uint32_t, size_t> open_crash_;  // node → its open crash record
  std::vector<EventRecord> events_;
  MembershipReport report_;
  std::vector<gossip::MemberEntry> warm_state_;
};

}  // namespace

double Distribution::Percentile(double p) const {
  if (samples.empty()) return 0;
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  const double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  return sorted[static_cast<size_t>(std::lround(rank))];
}

double Distribution::Max() const {
  return samples.empty() ? 0 : *std::max_element(samples.begin(), samples.end());
}

std::string Distribution::Format() const {
  if (samples.empty()) return "n=0";
  return fmt::format("p50 {:.3f}s  p99 {:.3f}s  max {:.3f}s  (n={})", Percentile(50),
                     Percentile(99), Max(), samples.size());
}

std::string MembershipReport::Format() const {
  std::string out;
  out += fmt::format("seed {}  nodes {}  simulated {:.0f}s  events {}  wall {:.2f}s\n", seed, nodes,
                     simulated_seconds, events_processed, wall_seconds);
  out += fmt::format("  join convergence          {:.3f}s\n", join_convergence_seconds);
  out += fmt::format("  detection, first node     {}\n", detection_first.Format());
  out += fmt::format("  detection, all nodes      {}\n", detection_all.Format());
  out += fmt::format("  crashes restarted before all noticed  {}\n", undetected_crashes);
  out += fmt::format("  false suspicions          {}\n", false_suspicions);
  out += fmt::format("  false deaths              {}  (after a partition healed: {})\n",
                     false_deaths, deaths_after_partition);
  out += fmt::format("  dissemination to all      {}  (undelivered {})\n", dissemination.Format(),
                     undelivered_events);
  out += fmt::format("  bytes sent per node per s {:.0f}\n", bytes_per_node_per_second);
  if (convergence_after_faults_seconds >= 0) {
    out += fmt::format("  convergence after faults  {:.3f}s (bound {:.1f}s)\n",
                       convergence_after_faults_seconds, convergence_bound_seconds);
  } else {
    out += fmt::format("  convergence after faults  not reached (bound {:.1f}s)\n",
                       convergence_bound_seconds);
  }
  for (const auto& violation : violations) out += "  VIOLATION: " + violation + "\n";
  return out;
}

MembershipReport RunMembershipSim(const MembershipSimOptions& options) {
  return Simulation(options).Run();
}

}  // namespace starling::sim
