#include "gossip/swim.h"

#include <algorithm>
#include <cmath>

#include "gossip/codec.h"

namespace starling::gossip {
namespace {

std::string MembershipKey(const NodeName& name) { return "m:" + name; }
bool IsUp(MemberStatus status) {
  return status == MemberStatus::kAlive || status == MemberStatus::kSuspect;
}
constexpr size_t kMaxSeenEventsPerOrigin = 256;
constexpr size_t kMaxJoinSeeds = 16;

}  // namespace

std::string_view MemberEventKindName(MemberEvent::Kind kind) {
  switch (kind) {
    case MemberEvent::Kind::kAlive:
      return "alive";
    case MemberEvent::Kind::kSuspect:
      return "suspect";
    case MemberEvent::Kind::kDead:
      return "dead";
    case MemberEvent::Kind::kLeft:
      return "left";
    case MemberEvent::Kind::kUpdated:
      return "updated";
    case MemberEvent::Kind::kRefuted:
      return "refuted";
    case MemberEvent::Kind::kUserEvent:
      return "user-event";
  }
  return "unknown";
}

Swim::Swim(const SwimOptions& options, const NodeName& name, const Address& address,
           const NodeMeta& meta, uint32_t incarnation, uint64_t seed, Instant now,
           std::shared_ptr<ProfilePool> pool)
    : options_(options),
      self_name_(name),
      rng_(seed),
      awareness_(options.awareness_max_multiplier),
      broadcasts_(options.max_broadcasts),
      pool_(pool ? std::move(pool) : std::make_shared<ProfilePool>()) {
  STARLING_CHECK(options_.Validate().ok());
  STARLING_CHECK(IsValidName(name));
  self_ = AddMember(pool_->Intern(name, address, meta), incarnation, now);
  alive_count_ = 1;
  header_item_ = EncodeHeader(name);
  QueueBroadcast(MembershipKey(name), Alive{incarnation, name, address, meta});
  // Stagger the periodic work so that nodes started together do not probe in lockstep.
  next_probe_ = now + Duration(rng_.Uniform(options_.probe_interval.count()));
  next_gossip_ = now;
  next_push_pull_ = now + Duration(rng_.Uniform(options_.push_pull_interval.count()));
  next_reconnect_ = now + options_.reconnect_interval;
}

void Swim::Join(Instant now, const std::vector<Address>& seeds, Outbox* out) {
  join_seeds_.assign(seeds.begin(), seeds.begin() + std::min(seeds.size(), kMaxJoinSeeds));
  next_join_retry_ = join_seeds_.empty() ? kInstantMax : now + options_.probe_interval * 2;
  const std::string state = LocalState(/*join=*/true);
  for (size_t i = 0; i < seeds.size() && i < kMaxJoinSeeds; ++i) {
    StreamRequest request{StreamRequest::Kind::kPushPull, seeds[i], state, {}, 0, true};
    stats_.stream_bytes_sent += state.size();
    out->streams.push_back(std::move(request));
  }
}

Status Swim::OnDatagram(Instant now, const Address& from, std::string_view bytes, Outbox* out) {
  auto datagram = DecodeDatagram(bytes);
  if (!datagram.ok()) {
    ++stats_.datagrams_rejected;
    return datagram.status();
  }
  ++stats_.datagrams_received;
  for (const Message& message : datagram->messages) HandleMessage(now, from, message, out);
  return Status::Ok();
}

Result<std::string> Swim::OnStreamPing(Instant /*now*/, std::string_view bytes) {
  auto datagram = DecodeDatagram(bytes);
  if (!datagram.ok()) return datagram.status();
  if (datagram->messages.size() != 1 || !std::holds_alternative<Ping>(datagram->messages[0])) {
    return Status::InvalidArgument("stream probe must carry exactly one ping");
  }
  const auto& ping = std::get<Ping>(datagram->messages[0]);
  if (ping.target != self_name_) {
    ++stats_.misdirected_pings;
    return Status::InvalidArgument("stream probe for '" + ping.target + "' reached '" + self_name_ +
                                   "'");
  }
  std::string datagram_bytes;
  AppendItem(&datagram_bytes, header_item_);
  AppendItem(&datagram_bytes, EncodeMessage(Ack{ping.seq}));
  return datagram_bytes;
}

Result<std::string> Swim::OnPushPullRequest(Instant now, std::string_view bytes, Outbox* out) {
  auto state = DecodePushPull(bytes);
  if (!state.ok()) return state.status();
  MergeState(now, *state, out);
  std::string reply = LocalState(/*join=*/false);
  stats_.stream_bytes_sent += reply.size();
  return reply;
}

Status Swim::OnPushPullReply(Instant now, std::string_view bytes, Outbox* out) {
  auto state = DecodePushPull(bytes);
  if (!state.ok()) return state.status();
  MergeState(now, *state, out);
  return Status::Ok();
}

void Swim::OnStreamFailed(Instant /*now*/, const StreamRequest& /*request*/, Outbox* /*out*/) {
  // A failed push-pull is retried at the next interval; a failed TCP probe simply does not ack,
  // and the probe round ends on its own timer.
}

void Swim::OnProbeRefused(Instant now, const NodeName& target, uint32_t seq, Outbox* out) {
  if (!options_.closed_port_evidence || leaving_) return;
  Member* member = Find(target);
  if (member == nullptr || !IsUp(member->status) || target == self_name_) return;
  // Our own network evidently works (the peer's host answered), so local health is unchanged.
  if (probe_ && probe_->seq == seq) probe_.reset();
  ++stats_.probes_failed;
  if (member->status == MemberStatus::kAlive) {
    ++stats_.suspicions_raised;
    SuspectNode(now, Suspect{member->incarnation, target, self_name_}, out);
  }
  if (auto suspicion = suspicions_.find(target); suspicion != suspicions_.end()) {
    suspicion->second.Shorten(now + options_.closed_port_suspicion_timeout);
  }
}

void Swim::HandleMessage(Instant now, const Address& from, const Message& message, Outbox* out) {
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Ping>) {
          HandlePing(now, from, m, out);
        } else if constexpr (std::is_same_v<T, IndirectPing>) {
          HandleIndirectPing(now, m, out);
        } else if constexpr (std::is_same_v<T, Ack>) {
          HandleAck(now, m, out);
        } else if constexpr (std::is_same_v<T, Nack>) {
          HandleNack(m);
        } else if constexpr (std::is_same_v<T, Alive>) {
          AliveNode(now, m, out);
        } else if constexpr (std::is_same_v<T, Suspect>) {
          SuspectNode(now, m, out);
        } else if constexpr (std::is_same_v<T, Dead>) {
          DeadNode(now, m, out);
        } else if constexpr (std::is_same_v<T, Load>) {
          HandleLoad(m);
        } else if constexpr (std::is_same_v<T, UserEvent>) {
          HandleUserEvent(m, out);
        }
      },
      message);
}

void Swim::HandlePing(Instant /*now*/, const Address& from, const Ping& ping, Outbox* out) {
  if (ping.target != self_name_) {
    ++stats_.misdirected_pings;
    return;
  }
  Send(from, {Ack{ping.seq}}, out);
}

void Swim::HandleIndirectPing(Instant now, const IndirectPing& request, Outbox* out) {
  if (forwarded_.size() >= options_.max_forwarded_probes) return;
  const uint32_t seq = next_seq_++;
  const Member& self = (*self_);
  Send(request.target_address, {Ping{seq, request.target, self_name_, self.address()}}, out);
  forwarded_[seq] = ForwardedProbe{request.source_address, request.seq, request.want_nack,
                                   now + options_.probe_timeout};
}

void Swim::HandleAck(Instant /*now*/, const Ack& ack, Outbox* out) {
  if (probe_ && probe_->seq == ack.seq) {
    EndProbe(/*success=*/true);
    return;
  }
  auto it = forwarded_.find(ack.seq);
  if (it == forwarded_.end()) return;
  Send(it->second.requester, {Ack{it->second.requester_seq}}, out);
  forwarded_.erase(it);
}

void Swim::HandleNack(const Nack& nack) {
  if (probe_ && probe_->seq == nack.seq) ++probe_->nacks;
}

void Swim::HandleLoad(const Load& load) {
  if (Find(load.name) == nullptr) return;
  auto& current = loads_[load.name];
  if (load.name == self_name_) {
    // A report from an earlier life of this node: publish ours above it. (An equal version is
    // our own report coming back.)
    if (load.report.version > current.version) {
      current.version = load.report.version + 1;
      QueueBroadcast("l:" + self_name_, Load{self_name_, current});
    }
    return;
  }
  // A report from an earlier life of the member (its incarnation is in the version's high
  // bits): what it said — copies serving, say — is no longer true.
  if ((load.report.version >> 32) < Find(load.name)->incarnation) return;
  if (current.version != 0 && load.report.version <= current.version) return;
  current = load.report;
  QueueBroadcast("l:" + load.name, load);
}

void Swim::HandleUserEvent(const UserEvent& event, Outbox* out) {
  if (Find(event.origin) == nullptr) return;
  auto& seen = seen_events_[event.origin];
  if (!seen.empty() && event.lamport_time < *seen.begin() &&
      seen.size() >= kMaxSeenEventsPerOrigin) {
    return;  // older than anything we remember: treat as already delivered
  }
  if (!seen.insert(event.lamport_time).second) return;
  if (seen.size() > kMaxSeenEventsPerOrigin) seen.erase(seen.begin());
  event_clock_ = std::max(event_clock_, event.lamport_time);
  out->events.push_back(
      MemberEvent{MemberEvent::Kind::kUserEvent, event.origin, 0, {}, event.name, event.payload});
  QueueBroadcast("e:" + event.origin + ":" + std::to_string(event.lamport_time), event);
}

void Swim::AliveNode(Instant now, const Alive& alive, Outbox* out, bool announce) {
  if (alive.name == self_name_) {
    if (leaving_) return;
    const Member& self = (*self_);
    const bool differs = alive.address != self.address() || alive.meta != self.meta();
    if (alive.incarnation > self.incarnation ||
        (alive.incarnation == self.incarnation && differs)) {
      Refute(now, alive.incarnation, out);
    }
    return;
  }
  Member* existing = Find(alive.name);
  if (existing == nullptr) {
    if (members_.size() >= options_.max_members) return;
    Member* member =
        AddMember(pool_->Intern(alive.name, alive.address, alive.meta), alive.incarnation, now);
    ++alive_count_;
    AddToProbeOrder(member);
    // Facts learned from a state exchange are echoed too (as memberlist does): in a join storm
    // most nodes learn a newcomer by merge, and if they stayed silent the epidemic of its Alive
    // would die among them, leaving a few nodes to wait for the next push-pull.
    if (announce) QueueBroadcast(MembershipKey(alive.name), alive);
    out->events.push_back({MemberEvent::Kind::kAlive, alive.name, alive.incarnation});
    return;
  }
  Member& member = *existing;
  if (alive.incarnation <= member.incarnation) return;
  const bool was_down = !IsUp(member.status);
  const bool was_alive = member.status == MemberStatus::kAlive;
  const bool changed = alive.address != member.address() || alive.meta != member.meta();
  member.incarnation = alive.incarnation;
  if (changed) SetProfile(&member, pool_->Intern(alive.name, alive.address, alive.meta));
  if (!was_alive) SetStatus(&member, MemberStatus::kAlive, now);
  suspicions_.erase(alive.name);
  if (was_down) AddToProbeOrder(&member);
  // Back from the dead (restarted, or a partition healed): the report of its earlier life —
  // copies that were replaced meanwhile — must not reappear; it gets one from its new life.
  if (was_down) loads_.erase(alive.name);
  if (announce) QueueBroadcast(MembershipKey(alive.name), alive);
  if (!was_alive) {
    out->events.push_back({MemberEvent::Kind::kAlive, alive.name, alive.incarnation});
  } else if (changed) {
    out->events.push_back({MemberEvent::Kind::kUpdated, alive.name, alive.incarnation});
  }
}

void Swim::SuspectNode(Instant now, const Suspect& suspect, Outbox* out) {
  Member* found = Find(suspect.name);
  if (found == nullptr) return;
  Member& member = *found;
  if (suspect.incarnation < member.incarnation) return;
  if (suspect.name == self_name_) {
    if (!leaving_) Refute(now, suspect.incarnation, out);
    return;
  }
  if (member.status == MemberStatus::kSuspect) {
    auto suspicion = suspicions_.find(suspect.name);
    if (suspicion != suspicions_.end() && suspicion->second.Confirm(suspect.from)) {
      QueueBroadcast(MembershipKey(suspect.name), suspect);
    }
    return;
  }
  if (member.status != MemberStatus::kAlive) return;
  member.incarnation = suspect.incarnation;
  SetStatus(&member, MemberStatus::kSuspect, now);
  // Lifeguard: expect suspicion_mult - 2 independent confirmations, none in tiny clusters.
  int expected = options_.suspicion_mult - 2;
  if (static_cast<int>(alive_count_) - 2 < expected) expected = 0;
  const Duration min = SuspicionMin();
  const Duration max = min * options_.suspicion_max_timeout_mult;
  suspicions_.insert_or_assign(suspect.name, Suspicion(suspect.from, expected, min, max, now));
  QueueBroadcast(MembershipKey(suspect.name), suspect);
  out->events.push_back(
      {MemberEvent::Kind::kSuspect, suspect.name, suspect.incarnation, suspect.from});
}

void Swim::DeadNode(Instant now, const Dead& dead, Outbox* out) {
  Member* found = Find(dead.name);
  if (found == nullptr) return;
  Member& member = *found;
  if (dead.incarnation < member.incarnation) return;
  if (!IsUp(member.status)) return;
  if (dead.name == self_name_) {
    if (!leaving_) Refute(now, dead.incarnation, out);
    return;
  }
  const bool left = dead.from == dead.name;
  member.incarnation = dead.incarnation;
  SetStatus(&member, left ? MemberStatus::kLeft : MemberStatus::kDead, now);
  suspicions_.erase(dead.name);
  QueueBroadcast(MembershipKey(dead.name), dead);
  out->events.push_back({left ? MemberEvent::Kind::kLeft : MemberEvent::Kind::kDead, dead.name,
                         dead.incarnation, dead.from});
}

void Swim::Refute(Instant /*now*/, uint32_t accused_incarnation, Outbox* out) {
  Member& self = (*self_);
  self.incarnation = std::max(self.incarnation, accused_incarnation) + 1;
  // Lifeguard: having to refute is a sign that this node is the slow one.
  awareness_.ApplyDelta(1);
  ++stats_.refutations;
  QueueBroadcast(MembershipKey(self_name_),
                 Alive{self.incarnation, self_name_, self.address(), self.meta()});
  out->events.push_back({MemberEvent::Kind::kRefuted, self_name_, self.incarnation});
}

void Swim::MergeState(Instant now, const PushPull& state, Outbox* out) {
  ++stats_.push_pulls;
  for (const MemberEntry& entry : state.members) {
    switch (entry.status) {
      case MemberStatus::kAlive:
        AliveNode(now, Alive{entry.incarnation, entry.name, entry.address, entry.meta}, out);
        break;
      case MemberStatus::kLeft:
        // Learn the member first, so that its leave is known even to a node that never saw it.
        if (Find(entry.name) == nullptr) {
          AliveNode(now, Alive{entry.incarnation, entry.name, entry.address, entry.meta}, out);
        }
        DeadNode(now, Dead{entry.incarnation, entry.name, entry.name}, out);
        break;
      case MemberStatus::kSuspect:
      case MemberStatus::kDead:
        // A remote death only makes us suspect, so the member gets its chance to refute
        // (memberlist's mergeState does the same).
        if (Find(entry.name) == nullptr) {
          AliveNode(now, Alive{entry.incarnation, entry.name, entry.address, entry.meta}, out);
        }
        SuspectNode(now, Suspect{entry.incarnation, entry.name, self_name_}, out);
        break;
    }
  }
  for (const Load& load : state.loads) HandleLoad(load);
}

void Swim::Restore(Instant now, const std::vector<MemberEntry>& members, Outbox* out) {
  for (const MemberEntry& entry : members) {
    if (entry.name == self_name_ || entry.status != MemberStatus::kAlive) continue;
    AliveNode(now, Alive{entry.incarnation, entry.name, entry.address, entry.meta}, out,
              /*announce=*/false);
  }
}

void Swim::Tick(Instant now, Outbox* out) {
  ProbeTimers(now, out);

  std::vector<NodeName> expired;
  for (const auto& [name, suspicion] : suspicions_) {
    if (suspicion.Deadline() <= now) expired.push_back(name);
  }
  for (const NodeName& name : expired) {
    const Member& member = *Find(name);
    DeadNode(now, Dead{member.incarnation, name, self_name_}, out);
  }

  for (auto it = forwarded_.begin(); it != forwarded_.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    if (it->second.want_nack) Send(it->second.requester, {Nack{it->second.requester_seq}}, out);
    it = forwarded_.erase(it);
  }

  if (now >= next_probe_) {
    next_probe_ = now + awareness_.Scale(options_.probe_interval);
    if (!probe_ && !leaving_) StartProbe(now, out);
  }
  if (now >= next_gossip_ && !broadcasts_.empty()) {
    next_gossip_ = now + options_.gossip_interval;
    Gossip(now, out);
  }
  if (now >= next_push_pull_) {
    next_push_pull_ = now + PushPullInterval();
    if (!leaving_) PushPullWithRandomMember(now, out);
  }
  if (now >= next_join_retry_) {
    if (alive_count_ > 1 || leaving_) {
      next_join_retry_ = kInstantMax;  // joined: gossip does the rest
    } else {
      Join(now, join_seeds_, out);
    }
  }
  if (now >= next_reconnect_) {
    next_reconnect_ = now + options_.reconnect_interval;
    if (!leaving_) Reconnect(now, out);
    ReapForgotten(now);
  }
}

Instant Swim::NextWake() const {
  Instant wake = std::min({next_probe_, next_push_pull_, next_reconnect_, next_join_retry_});
  if (probe_)
    wake = std::min(wake, probe_->indirect_sent ? probe_->round_deadline : probe_->direct_deadline);
  if (!broadcasts_.empty()) wake = std::min(wake, next_gossip_);
  for (const auto& [name, suspicion] : suspicions_) wake = std::min(wake, suspicion.Deadline());
  for (const auto& [seq, forward] : forwarded_) wake = std::min(wake, forward.deadline);
  return wake;
}

void Swim::StartProbe(Instant now, Outbox* out) {
  // Randomized round-robin (SWIM §4.3): each round visits every member once in a fresh order.
  for (size_t attempts = 0; attempts <= members_.size(); ++attempts) {
    if (probe_index_ >= probe_order_.size()) {
      probe_order_.clear();
      for (Member* member : member_list_) {
        if (member != self_ && IsUp(member->status)) probe_order_.push_back(member);
      }
      Shuffle(&probe_order_, &rng_);
      probe_index_ = 0;
      if (probe_order_.empty()) return;
    }
    const Member& target = *probe_order_[probe_index_++];
    if (!IsUp(target.status)) continue;
    const NodeName& name = target.name();
    Probe probe;
    probe.seq = next_seq_++;
    probe.target = name;
    probe.direct_deadline = now + options_.probe_timeout;
    probe.round_deadline = now + awareness_.Scale(options_.probe_interval);
    ++stats_.probes;
    Send(target.address(), {Ping{probe.seq, name, self_name_, self_->address()}}, out);
    probe_ = std::move(probe);
    return;
  }
}

void Swim::ProbeTimers(Instant now, Outbox* out) {
  if (!probe_) return;
  const Member* target = Find(probe_->target);
  if (target == nullptr || !IsUp(target->status)) {
    probe_.reset();  // the member died or left meanwhile; nothing left to learn
    return;
  }
  if (!probe_->indirect_sent && now >= probe_->direct_deadline) {
    probe_->indirect_sent = true;
    const Member& self = (*self_);
    auto helpers = RandomMembers(options_.indirect_checks, probe_->target,
                                 [](const Member& m) { return m.status == MemberStatus::kAlive; });
    for (const Member* helper : helpers) {
      Send(helper->address(),
           {IndirectPing{probe_->seq, probe_->target, target->address(), self_name_, self.address(),
                         /*want_nack=*/true}},
           out);
    }
    probe_->expected_nacks = static_cast<int>(helpers.size());
    // memberlist's TCP fallback probe: reaches members whose UDP path alone is lossy, and a refused
    // connection tells us at once that nothing listens there any more.
    std::string ping;
    AppendItem(&ping, header_item_);
    AppendItem(&ping, EncodeMessage(Ping{probe_->seq, probe_->target, self_name_, self.address()}));
    stats_.stream_bytes_sent += ping.size();
    out->streams.push_back(StreamRequest{StreamRequest::Kind::kProbe, target->address(),
                                         std::move(ping), probe_->target, probe_->seq, false});
  }
  if (probe_->indirect_sent && now >= probe_->round_deadline) {
    // Lifeguard: missing nacks mean our own links are bad; with no helpers, any failure counts.
    int delta = 0;
    if (probe_->expected_nacks > 0) {
      if (probe_->nacks < probe_->expected_nacks) delta += probe_->expected_nacks - probe_->nacks;
    } else {
      delta += 1;
    }
    awareness_.ApplyDelta(delta);
    ++stats_.probes_failed;
    const Member& member = *target;
    const Suspect suspect{member.incarnation, member.name(), self_name_};
    probe_.reset();
    if (member.status == MemberStatus::kAlive) ++stats_.suspicions_raised;
    SuspectNode(now, suspect, out);
  }
}

void Swim::EndProbe(bool success) {
  if (success) awareness_.ApplyDelta(-1);
  probe_.reset();
}

void Swim::Gossip(Instant now, Outbox* out) {
  auto targets = RandomMembers(options_.gossip_nodes, {}, [&](const Member& m) {
    return IsUp(m.status) || now - m.status_since < options_.gossip_to_the_dead;
  });
  for (const Member* target : targets) {
    if (!SendBroadcasts(*target, out)) break;
  }
}

bool Swim::SendBroadcasts(const Member& target, Outbox* out) {
  const size_t header_cost = header_item_.size() + kItemPrefixBytes;
  auto items = broadcasts_.Take(options_.datagram_budget_bytes - header_cost, kItemPrefixBytes,
                                RetransmitLimit());
  if (items.empty()) return false;
  std::string datagram;
  datagram.reserve(options_.datagram_budget_bytes);
  AppendItem(&datagram, header_item_);
  for (const auto& item : items) AppendItem(&datagram, item);
  ++stats_.datagrams_sent;
  stats_.bytes_sent += datagram.size();
  out->datagrams.push_back({target.address(), std::move(datagram)});
  return true;
}

void Swim::PushPullWithRandomMember(Instant /*now*/, Outbox* out) {
  auto targets =
      RandomMembers(1, {}, [](const Member& m) { return m.status == MemberStatus::kAlive; });
  if (targets.empty()) return;
  std::string state = LocalState(/*join=*/false);
  stats_.stream_bytes_sent += state.size();
  out->streams.push_back(
      StreamRequest{StreamRequest::Kind::kPushPull, targets[0]->address(), std::move(state)});
}

void Swim::Reconnect(Instant now, Outbox* out) {
  if (dead_count_ == 0) return;
  // Serf's reconnect scaling: try with probability dead/alive, so the whole cluster makes about
  // one attempt per dead member per interval instead of one per live node.
  const double probability =
      static_cast<double>(dead_count_) / static_cast<double>(std::max<size_t>(1, alive_count_));
  if (!rng_.Bernoulli(probability)) return;
  auto targets = RandomMembers(1, {}, [&](const Member& m) {
    return m.status == MemberStatus::kDead && now - m.status_since < options_.dead_retention;
  });
  if (targets.empty()) return;
  std::string state = LocalState(/*join=*/false);
  stats_.stream_bytes_sent += state.size();
  out->streams.push_back(
      StreamRequest{StreamRequest::Kind::kPushPull, targets[0]->address(), std::move(state)});
}

void Swim::ReapForgotten(Instant now) {
  bool reaped = false;
  for (size_t i = 0; i < member_list_.size();) {
    const Member& member = *member_list_[i];
    if (IsUp(member.status) || now - member.status_since < options_.dead_retention) {
      ++i;
      continue;
    }
    if (member.status == MemberStatus::kDead) --dead_count_;
    const NodeName name = member.name();  // a copy: erasing the entry may free the profile
    member_list_[i] = member_list_.back();
    member_list_.pop_back();
    loads_.erase(name);
    seen_events_.erase(name);
    members_.erase(std::string_view(name));
    reaped = true;
  }
  // The probe order may point at a forgotten member: start a fresh round.
  if (reaped) {
    probe_order_.clear();
    probe_index_ = 0;
  }
}

void Swim::Leave(Instant now, Outbox* out) {
  if (leaving_) return;
  leaving_ = true;
  leave_started_ = now;
  probe_.reset();
  Member& self = (*self_);
  SetStatus(&self, MemberStatus::kLeft, now);
  QueueBroadcast(MembershipKey(self_name_), Dead{self.incarnation, self_name_, self_name_});
  next_gossip_ = now + options_.gossip_interval;
  Gossip(now, out);
}

bool Swim::LeaveDone(Instant now) const {
  if (!leaving_) return false;
  if (alive_count_ == 0) return true;  // nobody left to tell
  if (broadcasts_.Transmits(MembershipKey(self_name_)) != 0) return true;
  return now - leave_started_ >= options_.leave_timeout;
}

void Swim::UpdateMeta(Instant /*now*/, const NodeMeta& meta, Outbox* /*out*/) {
  Member& self = (*self_);
  if (self.meta() == meta) return;
  SetProfile(&self, pool_->Intern(self_name_, self.address(), meta));
  ++self.incarnation;
  QueueBroadcast(MembershipKey(self_name_),
                 Alive{self.incarnation, self_name_, self.address(), self.meta()});
}

void Swim::PublishLoad(Instant /*now*/, LoadReport report, Outbox* out,
                       const std::vector<std::string>& urgent_to) {
  auto& current = loads_[self_name_];
  // Versions carry the incarnation in their high bits, so that a restarted node's first report
  // supersedes its earlier life's, and others can tell the two apart (HandleLoad).
  report.version = std::max(current.version + 1, (uint64_t{self_->incarnation} << 32) | 1);
  current = report;
  QueueBroadcast("l:" + self_name_, Load{self_name_, report});
  for (const auto& name : urgent_to) {
    const Member* target = Find(name);
    if (target != nullptr && name != self_name_ && IsUp(target->status)) {
      SendBroadcasts(*target, out);
    }
  }
}

Status Swim::SendUserEvent(Instant /*now*/, std::string name, std::string payload, Outbox* out) {
  if (!IsValidName(name)) {
    return Status::InvalidArgument("event name must be 1-64 characters of [A-Za-z0-9._-]");
  }
  if (payload.size() > kMaxUserEventPayloadBytes) {
    return Status::InvalidArgument("event payload exceeds " +
                                   std::to_string(kMaxUserEventPayloadBytes) + " bytes");
  }
  HandleUserEvent(UserEvent{self_name_, event_clock_ + 1, std::move(name), std::move(payload)},
                  out);
  return Status::Ok();
}

Member* Swim::Find(std::string_view name) {
  auto it = members_.find(name);
  return it == members_.end() ? nullptr : &it->second;
}

const Member* Swim::FindMember(std::string_view name) const {
  auto it = members_.find(name);
  return it == members_.end() ? nullptr : &it->second;
}

std::vector<const Member*> Swim::SortedMembers() const {
  std::vector<const Member*> sorted(member_list_.begin(), member_list_.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const Member* a, const Member* b) { return a->name() < b->name(); });
  return sorted;
}

Member* Swim::AddMember(ProfileRef profile, uint32_t incarnation, Instant now) {
  const std::string_view key = profile->name;  // stays valid: the profile lives in the entry
  auto [it, inserted] =
      members_.try_emplace(key, Member{std::move(profile), incarnation, MemberStatus::kAlive, now});
  STARLING_CHECK(inserted);
  member_list_.push_back(&it->second);
  return &it->second;
}

void Swim::SetProfile(Member* member, ProfileRef profile) {
  if (member->profile == profile) return;
  // The key views the old profile's name: re-key the same node (it does not move).
  auto node = members_.extract(member->name());
  node.mapped().profile = std::move(profile);
  node.key() = node.mapped().name();
  members_.insert(std::move(node));
}

const LoadReport* Swim::LoadOf(const NodeName& name) const {
  auto it = loads_.find(name);
  return it == loads_.end() ? nullptr : &it->second;
}

void Swim::Send(const Address& to, const std::vector<Message>& messages, Outbox* out) {
  std::string datagram = BuildDatagram(messages);
  ++stats_.datagrams_sent;
  stats_.bytes_sent += datagram.size();
  out->datagrams.push_back({to, std::move(datagram)});
}

std::string Swim::BuildDatagram(const std::vector<Message>& messages) {
  std::string datagram;
  datagram.reserve(options_.datagram_budget_bytes);
  AppendItem(&datagram, header_item_);
  for (const Message& message : messages) AppendItem(&datagram, EncodeMessage(message));
  // Piggyback (SWIM §4.4): every datagram carries as many queued broadcasts as fit.
  if (datagram.size() < options_.datagram_budget_bytes && !broadcasts_.empty()) {
    for (const auto& item : broadcasts_.Take(options_.datagram_budget_bytes - datagram.size(),
                                             kItemPrefixBytes, RetransmitLimit())) {
      AppendItem(&datagram, item);
    }
  }
  return datagram;
}

std::string Swim::LocalState(bool join) const {
  PushPull state;
  state.sender = self_name_;
  state.join = join;
  state.members.reserve(members_.size());
  for (const Member* member : member_list_) {
    state.members.push_back(
        {member->name(), member->address(), member->meta(), member->incarnation, member->status});
  }
  for (const auto& [name, report] : loads_) state.loads.push_back({name, report});
  return EncodePushPull(state);
}

void Swim::QueueBroadcast(std::string key, const Message& message) {
  broadcasts_.Queue(std::move(key), EncodeMessage(message));
}

template <typename Predicate>
std::vector<const Member*> Swim::RandomMembers(size_t k, const NodeName& exclude,
                                               Predicate eligible) {
  std::vector<const Member*> picked;
  const size_t n = member_list_.size();
  // memberlist's kRandomNodes: bounded random draws, so the cost stays O(k) in large clusters.
  for (size_t attempt = 0; attempt < 3 * n && picked.size() < k; ++attempt) {
    const Member& member = *member_list_[rng_.Uniform(n)];
    if (&member == self_ || member.name() == exclude) continue;
    if (!eligible(member)) continue;
    if (std::find(picked.begin(), picked.end(), &member) != picked.end()) continue;
    picked.push_back(&member);
  }
  return picked;
}

void Swim::SetStatus(Member* member, MemberStatus status, Instant now) {
  const bool was_up = IsUp(member->status);
  const bool is_up = IsUp(status);
  if (was_up && !is_up) --alive_count_;
  if (!was_up && is_up) ++alive_count_;
  if (member->status == MemberStatus::kDead) --dead_count_;
  if (status == MemberStatus::kDead) ++dead_count_;
  member->status = status;
  member->status_since = now;
}

void Swim::AddToProbeOrder(Member* member) {
  // Insert at a random place in the rest of this round, so a newcomer is probed soon (memberlist).
  probe_order_.push_back(member);
  const size_t first = std::min(probe_index_, probe_order_.size() - 1);
  const size_t place = first + rng_.Uniform(probe_order_.size() - first);
  std::swap(probe_order_[place], probe_order_.back());
}

int Swim::RetransmitLimit() const {
  const double n = static_cast<double>(members_.size());
  return options_.retransmit_mult * static_cast<int>(std::ceil(std::log10(n + 1)));
}

Duration Swim::SuspicionMin() const {
  const double n = static_cast<double>(std::max<size_t>(1, alive_count_));
  const double scale = std::max(1.0, std::log10(n));
  return std::chrono::duration_cast<Duration>(options_.probe_interval * options_.suspicion_mult *
                                              scale);
}

Duration Swim::PushPullInterval() const {
  // memberlist's pushPullScale: beyond 32 members, stretch logarithmically to bound TCP load.
  const double n = static_cast<double>(alive_count_);
  if (n <= 32) return options_.push_pull_interval;
  const int multiplier = static_cast<int>(std::ceil(std::log2(n) - std::log2(32.0))) + 1;
  return options_.push_pull_interval * multiplier;
}

}  // namespace starling::gossip
