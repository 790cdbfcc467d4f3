// gossip/swim.h — SWIM membership with the Lifeguard refinements. Does no I/O (DESIGN.md §2, §4).
//
// The Asio runtime (src/net/agent_runtime.h) and the simulator (simulation/) drive the same class:
// they hand it received bytes and the current time, drain its Outbox, and call Tick() at
// NextWake(). Everything random comes from the seed; nothing reads a clock.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/rng.h"
#include "base/status.h"
#include "gossip/awareness.h"
#include "gossip/broadcast_queue.h"
#include "gossip/messages.h"
#include "gossip/options.h"
#include "gossip/suspicion.h"
#include "gossip/types.h"

namespace starling::gossip {

// Something that happened to the membership, for logs, the API and the simulator's checks.
struct MemberEvent {
  enum class Kind { kAlive, kSuspect, kDead, kLeft, kUpdated, kRefuted, kUserEvent };
  Kind kind;
  NodeName name;  // the member concerned (for kUserEvent: the event's origin)
  uint32_t incarnation = 0;
  NodeName from;  // who raised a suspicion or death
  std::string event_name;
  std::string payload;
};
std::string_view MemberEventKindName(MemberEvent::Kind kind);

// A TCP exchange the driver must carry out and report back on.
struct StreamRequest {
  enum class Kind {
    kPushPull,  // send `bytes`, hand the reply to OnPushPullReply(); failures to OnStreamFailed()
    kProbe,     // Lifeguard's TCP fallback probe: send `bytes` (a Ping datagram), hand the reply
                // to OnDatagram(); a refused connection to OnProbeRefused()
  };
  Kind kind;
  Address to;
  std::string bytes;
  NodeName target;    // kProbe: the member probed
  uint32_t seq = 0;   // kProbe: the probe's sequence number
  bool join = false;  // kPushPull: part of a join
};

// What one step of the core asks its driver to do. The driver drains it after every call.
struct Outbox {
  struct Send {
    Address to;
    std::string bytes;
  };
  std::vector<Send> datagrams;
  std::vector<StreamRequest> streams;
  std::vector<MemberEvent> events;
  bool empty() const { return datagrams.empty() && streams.empty() && events.empty(); }
  void Clear() {
    datagrams.clear();
    streams.clear();
    events.clear();
  }
};

// Counters for /metrics and the simulator. Monotonic.
struct SwimStats {
  uint64_t datagrams_received = 0;
  uint64_t datagrams_rejected = 0;  // undecodable
  uint64_t datagrams_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t stream_bytes_sent = 0;
  uint64_t misdirected_pings = 0;
  uint64_t probes = 0;
  uint64_t probes_failed = 0;
  uint64_t suspicions_raised = 0;  // by this node's own probes
  uint64_t refutations = 0;
  uint64_t push_pulls = 0;
};

class Swim {
 public:
  // `self` is this node (its name, advertised address and metadata); `incarnation` must exceed
  // any incarnation this name used before (the runtime persists it). `pool` shares member profiles
  // among cores (the simulator); null gives this core its own. REQUIRES: options valid.
  Swim(const SwimOptions& options, const NodeName& name, const Address& address,
       const NodeMeta& meta, uint32_t incarnation, uint64_t seed, Instant now,
       std::shared_ptr<ProfilePool> pool = nullptr);

  Swim(const Swim&) = delete;
  Swim& operator=(const Swim&) = delete;

  // Asks each seed for its full state (a join). Replies arrive through OnPushPullReply(). While
  // this node knows no other member, the join is retried every probe_interval * 2.
  void Join(Instant now, const std::vector<Address>& seeds, Outbox* out);

  // Adds members known from elsewhere (a previous life's member list, a snapshot of a running
  // cluster) as alive without announcing them; probing verifies them like any other member.
  void Restore(Instant now, const std::vector<MemberEntry>& members, Outbox* out);

  // Handles one received datagram (already authenticated). Malformed input returns a corruption
  // status and changes nothing.
  [[nodiscard]] Status OnDatagram(Instant now, const Address& from, std::string_view bytes,
                                  Outbox* out);

  // A TCP probe arrived: returns the Ack datagram to send back on the stream, or an error when the
  // ping is malformed or meant for another node.
  [[nodiscard]] Result<std::string> OnStreamPing(Instant now, std::string_view bytes);

  // A push-pull request arrived over TCP: merges it and returns this node's state as the reply.
  [[nodiscard]] Result<std::string> OnPushPullRequest(Instant now, std::string_view bytes,
                                                      Outbox* out);
  // The reply to one of our push-pull requests.
  [[nodiscard]] Status OnPushPullReply(Instant now, std::string_view bytes, Outbox* out);
  // A stream request could not be completed.
  void OnStreamFailed(Instant now, const StreamRequest& request, Outbox* out);
  // Our TCP probe's connection was refused: nothing listens at the member's address.
  void OnProbeRefused(Instant now, const NodeName& target, uint32_t seq, Outbox* out);

  // Runs every timer that is due at `now`.
  void Tick(Instant now, Outbox* out);
  // The earliest time Tick() has work; kInstantMax when none.
  Instant NextWake() const;

  // Announces a graceful leave. The driver may stop once LeaveDone() or after leave_timeout.
  void Leave(Instant now, Outbox* out);
  bool LeaveDone(Instant now) const;

  // Publishes new metadata (an Alive with a higher incarnation).
  void UpdateMeta(Instant now, const NodeMeta& meta, Outbox* out);
  // Publishes this node's load report under the next version. `urgent_to`: members that get
  // the pending broadcasts at once rather than at the next gossip round (the balancers, when a
  // copy starts serving or drains: DESIGN.md §9).
  void PublishLoad(Instant now, LoadReport report, Outbox* out,
                   const std::vector<std::string>& urgent_to = {});
  // Floods an application event to every member once.
  [[nodiscard]] Status SendUserEvent(Instant now, std::string name, std::string payload,
                                     Outbox* out);

  const NodeName& name() const { return self_name_; }
  uint32_t incarnation() const { return self_->incarnation; }
  // The member called `name` (self included), or nullptr.
  const Member* FindMember(std::string_view name) const;
  // Every known member, self included, in no particular order.
  const std::vector<Member*>& members() const { return member_list_; }
  // The same, ordered by name (for people and the API).
  std::vector<const Member*> SortedMembers() const;
  // The newest load report known for `name`, or nullptr.
  const LoadReport* LoadOf(const NodeName& name) const;
  size_t AliveCount() const { return alive_count_; }
  int health_score() const { return awareness_.score(); }
  const SwimStats& stats() const { return stats_; }
  const SwimOptions& options() const { return options_; }

 private:
  struct Probe {
    uint32_t seq = 0;
    NodeName target;
    Instant direct_deadline;  // no ack by then: indirect probes
    Instant round_deadline;   // no ack by then: suspect
    bool indirect_sent = false;
    int expected_nacks = 0;
    int nacks = 0;
  };
  struct ForwardedProbe {  // an indirect probe we run on another member's behalf
    Address requester;
    uint32_t requester_seq = 0;
    bool want_nack = false;
    Instant deadline;
  };

  void HandleMessage(Instant now, const Address& from, const Message& message, Outbox* out);
  void HandlePing(Instant now, const Address& from, const Ping& ping, Outbox* out);
  void HandleIndirectPing(Instant now, const IndirectPing& request, Outbox* out);
  void HandleAck(Instant now, const Ack& ack, Outbox* out);
  void HandleNack(const Nack& nack);
  void HandleLoad(const Load& load);
  void HandleUserEvent(const UserEvent& event, Outbox* out);

  // The SWIM state transitions; each queues the broadcast that spreads it.
  void AliveNode(Instant now, const Alive& alive, Outbox* out, bool announce = true);
  void SuspectNode(Instant now, const Suspect& suspect, Outbox* out);
  void DeadNode(Instant now, const Dead& dead, Outbox* out);
  void Refute(Instant now, uint32_t accused_incarnation, Outbox* out);
  void MergeState(Instant now, const PushPull& state, Outbox* out);

  void StartProbe(Instant now, Outbox* out);
  void ProbeTimers(Instant now, Outbox* out);
  void EndProbe(bool success);
  void Gossip(Instant now, Outbox* out);
  // One datagram of pending broadcasts to `target`; false when none is pending.
  bool SendBroadcasts(const Member& target, Outbox* out);
  void PushPullWithRandomMember(Instant now, Outbox* out);
  void Reconnect(Instant now, Outbox* out);
  void ReapForgotten(Instant now);

  // Sends `messages` to `to` in one datagram, filling the remaining room with broadcasts.
  void Send(const Address& to, const std::vector<Message>& messages, Outbox* out);
  std::string BuildDatagram(const std::vector<Message>& messages);
  std::string LocalState(bool join) const;
  void QueueBroadcast(std::string key, const Message& message);
  // Up to `k` distinct random members other than self (and `exclude`) for which `eligible` holds.
  template <typename Predicate>
  std::vector<const Member*> RandomMembers(size_t k, const NodeName& exclude, Predicate eligible);
  Member* Find(std::string_view name);
  Member* AddMember(ProfileRef profile, uint32_t incarnation, Instant now);
  void SetProfile(Member* member, ProfileRef profile);
  void SetStatus(Member* member, MemberStatus status, Instant now);
  void AddToProbeOrder(Member* member);
  int RetransmitLimit() const;
  Duration SuspicionMin() const;
  Duration PushPullInterval() const;

  SwimOptions options_;
  NodeName self_name_;
  std::string header_item_;  // the encoded header every datagram of ours starts with
  Rng rng_;
  Awareness awareness_;
  BroadcastQueue broadcasts_;
  SwimStats stats_;

  std::shared_ptr<ProfilePool> pool_;
  // Every member, self included, keyed by a view of its profile's name. Never iterated (its order
  // is the hash's); nodes do not move, so Member* stay valid until the member is forgotten.
  std::unordered_map<std::string_view, Member> members_;
  Member* self_ = nullptr;
  std::vector<Member*> member_list_;  // the same members in arrival order, for iteration and picks
  size_t alive_count_ = 0;            // alive or suspect, self included
  size_t dead_count_ = 0;
  std::map<NodeName, Suspicion> suspicions_;
  std::map<NodeName, LoadReport> loads_;
  std::map<NodeName, std::set<uint64_t>> seen_events_;  // recent user events per origin
  uint64_t event_clock_ = 0;

  std::vector<Member*> probe_order_;  // this round's order; cleared when a member is forgotten
  size_t probe_index_ = 0;
  std::optional<Probe> probe_;
  std::map<uint32_t, ForwardedProbe> forwarded_;
  uint32_t next_seq_ = 1;

  Instant next_probe_;
  Instant next_gossip_;
  Instant next_push_pull_;
  Instant next_reconnect_;
  std::vector<Address> join_seeds_;  // retried while this node knows no other member
  Instant next_join_retry_ = kInstantMax;
  bool leaving_ = false;
  Instant leave_started_{};
};

}  // namespace starling::gossip
