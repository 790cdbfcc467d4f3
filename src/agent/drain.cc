#include "src/agent/drain.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <set>

namespace starling::agent {

asio::awaitable<DrainOutcome> DrainBackend(asio::io_context& io, StreamTransport* transport,
                                           BalancerList balancers, std::string backend,
                                           Duration deadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  std::set<std::string> done;
  asio::steady_timer pause(io);
  for (;;) {
    const auto all = balancers();
    std::vector<std::string> pending;
    for (const auto& [name, address] : all) {
      if (done.contains(name)) continue;
      auto asked = transport->Request(address, frame::kDrained, backend, Seconds(2));
      Result<Frame> answer = co_await std::move(asked);
      if (answer.ok() && answer->payload() == kDrainedYes) {
        done.insert(name);
      } else {
        pending.push_back(name);
      }
    }
    if (pending.empty()) {
      co_return DrainOutcome{
          .confirmed = true,
          .balancers = all.size(),
          .text = all.empty() ? std::string("no live balancer")
                              : fmt::format("out of all {} balancers' upstreams", all.size())};
    }
    if (std::chrono::steady_clock::now() >= end) {
      co_return DrainOutcome{
          .confirmed = false,
          .balancers = all.size(),
          .unconfirmed = pending,
          .text = fmt::format("the {:.0f} s drain deadline passed; not confirmed by {}",
                              ToSeconds(deadline), fmt::join(pending, ", "))};
    }
    pause.expires_after(std::chrono::milliseconds(20));
    asio::error_code ec;
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace starling::agent
