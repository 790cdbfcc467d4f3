// src/agent/drain.h — make-before-break at the balancers (DESIGN.md §8–9): before a copy that
// served is stopped, every live balancer must have taken it out of its upstreams and finished
// its requests to it. The worker asks each balancer over the cluster's transport
// (frame::kDrained) every 20 ms until all say so or a deadline passes: a timer-driven wait on the
// io thread, no thread sleeping.
#pragma once

#include <asio.hpp>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/time.h"
#include "src/agent/transport.h"

namespace starling::agent {

using BalancerList = std::function<std::vector<std::pair<std::string, gossip::Address>>()>;

struct DrainOutcome {
  bool confirmed = false;                // every live balancer said so (or there was none)
  size_t balancers = 0;                  // live balancers at the last round
  std::vector<std::string> unconfirmed;  // those that had not said so at the deadline
  std::string text;                      // the same in a few words
};

// Waits until every balancer `balancers()` lists (asked again each round: one that dies or joins
// meanwhile counts as it is then) says `backend` ("host:port") is drained, or `deadline` passed.
asio::awaitable<DrainOutcome> DrainBackend(asio::io_context& io, StreamTransport* transport,
                                           BalancerList balancers, std::string backend,
                                           Duration deadline = Seconds(10));

// The balancer's answer to a frame::kDrained request: "1" drained, "0" not yet.
inline constexpr std::string_view kDrainedYes = "1";
inline constexpr std::string_view kDrainedNo = "0";

}  // namespace starling::agent
