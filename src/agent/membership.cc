#include "src/agent/membership.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

namespace starling::agent {
namespace {

using asio::ip::udp;
using gossip::MemberEvent;
using gossip::Outbox;
using gossip::StreamRequest;

constexpr auto kPushPullTimeout = Seconds(10);

void LogEvent(const MemberEvent& event) {
  switch (event.kind) {
    case MemberEvent::Kind::kUserEvent:
      spdlog::info("event received name={} origin={} bytes={}", event.event_name, event.name,
                   event.payload.size());
      break;
    case MemberEvent::Kind::kRefuted:
      spdlog::warn("refuted a suspicion of this node: incarnation now {}", event.incarnation);
      break;
    default:
      spdlog::info("member {} {} incarnation={}{}", gossip::MemberEventKindName(event.kind),
                   event.name, event.incarnation, event.from.empty() ? "" : " by=" + event.from);
  }
}

}  // namespace

Membership::Membership(asio::io_context& io, CoreTime time, const AgentConfig& config,
                       net::Sealer* sealer, StreamTransport* transport, gossip::NodeMeta meta,
                       uint32_t incarnation, Hooks hooks)
    : io_(io),
      time_(time),
      config_(config),
      self_addresses_(SelfAddresses(config)),
      sealer_(sealer),
      transport_(transport),
      hooks_(std::move(hooks)),
      udp_(io),
      timer_(io.get_executor(), time),
      incarnation_reported_(incarnation) {
  uint64_t seed = 0;
  randombytes_buf(&seed, sizeof(seed));
  core_ = std::make_unique<gossip::Swim>(
      config.swim, config.node_name, gossip::Address{config.advertise.host, config.advertise.port},
      std::move(meta), incarnation, seed, time_.Now());
  // Registered now, before the transport starts: a peer's push-pull may be waiting already.
  transport_->Handle(frame::kPushPull,
                     [this](Frame request) -> asio::awaitable<Result<std::string>> {
                       Result<std::string> reply = Status::Unavailable("leaving");
                       Step([&](Outbox* out) {
                         reply = core_->OnPushPullRequest(time_.Now(), request.payload(), out);
                       });
                       co_return reply;
                     });
  transport_->Handle(frame::kPing, [this](Frame request) -> asio::awaitable<Result<std::string>> {
    co_return core_->OnStreamPing(time_.Now(), request.payload());
  });
}

Status Membership::Bind(const udp::endpoint& endpoint) {
  asio::error_code ec;
  udp_.open(endpoint.protocol(), ec);
  if (!ec) udp_.bind(endpoint, ec);
  if (ec) {
    return Status::Unavailable("cannot bind UDP " + endpoint.address().to_string() + ":" +
                               std::to_string(endpoint.port()) + ": " + ec.message());
  }
  // Sends must never stall the core's thread: with a full socket buffer the datagram is dropped
  // instead, which SWIM treats like any other loss.
  udp_.non_blocking(true, ec);
  return Status::Ok();
}

void Membership::Start(const std::vector<std::string>& seeds) {
  asio::co_spawn(io_, Receive(), asio::detached);
  if (!seeds.empty()) {
    Join(seeds);
  } else {
    Reschedule();
  }
}

void Membership::Join(const std::vector<std::string>& seeds) {
  asio::co_spawn(io_, ResolveAndJoin(seeds), asio::detached);
}

asio::awaitable<void> Membership::ResolveAndJoin(std::vector<std::string> seeds) {
  auto alive = alive_;
  std::vector<gossip::Address> addresses;
  asio::ip::tcp::resolver resolver(io_);
  for (const auto& seed : seeds) {
    auto parsed = ParseHostPort(seed, "join address");
    if (!parsed.ok()) {
      spdlog::error("{}", parsed.status().message());
      continue;
    }
    asio::error_code ec;
    auto results = co_await resolver.async_resolve(parsed->host, std::to_string(parsed->port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
    if (!*alive) co_return;
    if (ec || results.empty()) {
      spdlog::error("cannot resolve join address {}: {}", seed, ec.message());
      continue;
    }
    auto endpoint = results.begin()->endpoint();
    addresses.push_back({endpoint.address().to_string(), endpoint.port()});
  }
  spdlog::info("joining via {} address(es)", addresses.size());
  Step([&](Outbox* out) { core_->Join(time_.Now(), addresses, out); });
}

void Membership::PublishLoad(gossip::LoadReport report, const std::vector<std::string>& urgent_to) {
  Step([&](Outbox* out) { core_->PublishLoad(time_.Now(), std::move(report), out, urgent_to); });
}

Status Membership::SendUserEvent(const std::string& name, std::string payload) {
  Status status = Status::Ok();
  Step([&](Outbox* out) {
    status = core_->SendUserEvent(time_.Now(), name, std::move(payload), out);
  });
  return status;
}

void Membership::Leave() {
  Step([&](Outbox* out) { core_->Leave(time_.Now(), out); });
}

bool Membership::LeaveDone() const { return core_->LeaveDone(time_.Now()); }

void Membership::Close() {
  *alive_ = false;
  asio::error_code ignored;
  udp_.close(ignored);
  timer_.Cancel();
}

std::optional<gossip::Address> Membership::AddressOf(const std::string& name) const {
  const gossip::Member* member = core_->FindMember(name);
  if (member == nullptr || member->status != gossip::MemberStatus::kAlive) return std::nullopt;
  return member->address();
}

std::vector<std::string> Membership::LivePeers() const {
  std::vector<std::string> live;
  for (const gossip::Member* member : core_->members()) {
    if (member->status == gossip::MemberStatus::kAlive && member->name() != config_.node_name) {
      live.push_back(member->name());
    }
  }
  return live;
}

template <typename F>
void Membership::Step(F&& step) {
  Outbox out;
  step(&out);
  Drain(&out);
}

void Membership::Drain(Outbox* out) {
  for (auto& send : out->datagrams) {
    asio::error_code ec;
    auto address = asio::ip::make_address(send.to.host, ec);
    if (ec) continue;
    // Bound to its recipient: replayed to any other node, it does not open.
    const std::string sealed =
        sealer_->Seal(net::Channel::kDatagram, send.bytes, WallMs(), send.to.ToString());
    udp_.send_to(asio::buffer(sealed), udp::endpoint(address, send.to.port), 0, ec);
    if (ec) spdlog::debug("send to {}: {}", send.to.ToString(), ec.message());
  }
  for (auto& request : out->streams) {
    asio::co_spawn(io_, RunStream(std::move(request)), asio::detached);
  }
  bool members_changed = false;
  std::vector<MemberEvent> user_events;
  for (auto& event : out->events) {
    if (event.kind == MemberEvent::Kind::kUserEvent) {
      if (!event.event_name.starts_with("starling.")) LogEvent(event);
      user_events.push_back(std::move(event));
      continue;
    }
    members_changed = true;
    LogEvent(event);
  }
  out->Clear();
  if (core_->incarnation() > incarnation_reported_) {
    incarnation_reported_ = core_->incarnation();
    hooks_.incarnation_raised(incarnation_reported_);
  }
  Reschedule();
  if (members_changed) hooks_.members_changed();
  for (auto& event : user_events) hooks_.user_event(event.event_name, std::move(event.payload));
  if (hooks_.stepped) hooks_.stepped();
}

void Membership::Reschedule() {
  timer_.Arm(core_->NextWake(),
             [this] { Step([&](Outbox* out) { core_->Tick(time_.Now(), out); }); });
}

asio::awaitable<void> Membership::RunStream(StreamRequest request) {
  auto alive = alive_;
  const bool probe = request.kind == StreamRequest::Kind::kProbe;
  const Duration timeout =
      probe ? std::chrono::duration_cast<Duration>(config_.swim.probe_interval) : kPushPullTimeout;
  auto exchange = transport_->Request(request.to, probe ? frame::kPing : frame::kPushPull,
                                      request.bytes, timeout);
  Result<Frame> reply = co_await std::move(exchange);
  if (!*alive) co_return;
  if (!reply.ok()) {
    if (probe && reply.status().code() == StatusCode::kUnavailable) {
      spdlog::debug("probe of {} refused: nothing listens at {}", request.target,
                    request.to.ToString());
      Step([&](Outbox* out) {
        core_->OnProbeRefused(time_.Now(), request.target, request.seq, out);
      });
    } else {
      spdlog::debug("stream to {} failed: {}", request.to.ToString(), reply.status().ToString());
      Step([&](Outbox* out) { core_->OnStreamFailed(time_.Now(), request, out); });
    }
    co_return;
  }
  Step([&](Outbox* out) {
    Status status = probe ? core_->OnDatagram(time_.Now(), request.to, reply->payload(), out)
                          : core_->OnPushPullReply(time_.Now(), reply->payload(), out);
    if (!status.ok()) {
      spdlog::debug("bad reply from {}: {}", request.to.ToString(), status.ToString());
    }
    if (request.join && status.ok()) spdlog::info("joined via {}", request.to.ToString());
  });
}

asio::awaitable<void> Membership::Receive() {
  auto alive = alive_;
  std::vector<char> buffer(65536);
  for (;;) {
    udp::endpoint from;
    asio::error_code ec;
    const size_t n = co_await udp_.async_receive_from(
        asio::buffer(buffer), from, asio::redirect_error(asio::use_awaitable, ec));
    if (!*alive || ec == asio::error::operation_aborted || !udp_.is_open()) co_return;
    if (ec) continue;
    auto plain = sealer_->Open(net::Channel::kDatagram, std::string_view(buffer.data(), n),
                               WallMs(), self_addresses_);
    if (!plain.ok()) {
      spdlog::debug("dropped datagram from {}:{}: {}", from.address().to_string(), from.port(),
                    plain.status().message());
      continue;
    }
    Step([&](Outbox* out) {
      Status status = core_->OnDatagram(
          time_.Now(), gossip::Address{from.address().to_string(), from.port()}, *plain, out);
      if (!status.ok()) spdlog::debug("undecodable datagram: {}", status.ToString());
    });
  }
}

}  // namespace starling::agent
