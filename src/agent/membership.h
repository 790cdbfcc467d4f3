// src/agent/membership.h — drives the membership core (gossip::Swim, DESIGN.md §4) with a real
// UDP socket, the stream transport and the steady clock: every datagram, stream reply and timer
// becomes one step of the core, and what the core asks for (datagrams, push-pulls, TCP probes,
// events) is carried out at once. This is the thread that answers probes: nothing here blocks.
// Join addresses are resolved asynchronously; the incarnation is persisted off this thread.
//
// Threading: io thread only.
#pragma once

#include <asio.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "gossip/swim.h"
#include "src/agent/clock.h"
#include "src/agent/config.h"
#include "src/agent/transport.h"
#include "src/agent/wake_timer.h"
#include "src/net/sealer.h"

namespace starling::agent {

class Membership {
 public:
  struct Hooks {
    // Members came, went, were suspected or changed their facts.
    std::function<void()> members_changed;
    // A user event arrived (the state log's news rides these as "starling.log").
    std::function<void(const std::string& name, std::string payload)> user_event;
    // The core's incarnation rose: persist it (the caller does so off the io thread).
    std::function<void(uint32_t incarnation)> incarnation_raised;
    // After every step (load reports may have arrived): cheap, or coalesced by the caller.
    std::function<void()> stepped;
  };

  // Registers the membership frames' handlers with `transport` (before it starts).
  Membership(asio::io_context& io, CoreTime time, const AgentConfig& config, net::Sealer* sealer,
             StreamTransport* transport, gossip::NodeMeta meta, uint32_t incarnation, Hooks hooks);

  // Binds the UDP socket. Blocking only at start.
  Status Bind(const asio::ip::udp::endpoint& endpoint);
  // Starts receiving and joins `seeds` ("host:port"; resolved asynchronously) if any. (The
  // transport's membership handlers are registered at construction.)
  void Start(const std::vector<std::string>& seeds);
  // Resolves and joins more seeds (the API's join).
  void Join(const std::vector<std::string>& seeds);
  // Publishes this node's load report; `urgent_to`: members that get it at once.
  void PublishLoad(gossip::LoadReport report, const std::vector<std::string>& urgent_to = {});
  [[nodiscard]] Status SendUserEvent(const std::string& name, std::string payload);
  // Announces a graceful leave; LeaveDone says when it has spread.
  void Leave();
  bool LeaveDone() const;
  // Closes the socket and stops the timers.
  void Close();

  const gossip::Swim& core() const { return *core_; }
  Instant Now() const { return time_.Now(); }
  std::optional<gossip::Address> AddressOf(const std::string& name) const;
  // Alive members other than this node.
  std::vector<std::string> LivePeers() const;

 private:
  template <typename F>
  void Step(F&& step);
  void Drain(gossip::Outbox* out);
  void Reschedule();
  asio::awaitable<void> Receive();
  asio::awaitable<void> RunStream(gossip::StreamRequest request);
  asio::awaitable<void> ResolveAndJoin(std::vector<std::string> seeds);

  asio::io_context& io_;
  CoreTime time_;
  const AgentConfig& config_;
  std::vector<std::string> self_addresses_;  // what a datagram must be sealed for (SelfAddresses)
  net::Sealer* sealer_;
  StreamTransport* transport_;
  Hooks hooks_;
  std::unique_ptr<gossip::Swim> core_;
  asio::ip::udp::socket udp_;
  WakeTimer timer_;
  uint32_t incarnation_reported_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace starling::agent
