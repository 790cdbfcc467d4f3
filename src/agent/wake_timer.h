// src/agent/wake_timer.h — wakes a pure core when it asks to be woken (its NextWake), the one way
// every driver here does it (membership, the state log, the image puller). Arming it again for
// the same instant does nothing; arming it for another makes the earlier expiry a no-op, so a
// stale timer never ticks a core.
//
// Threading: the executor's thread only (the one `timer` runs on).
#pragma once

#include <asio.hpp>
#include <functional>
#include <memory>

#include "src/agent/clock.h"

namespace starling::agent {

class WakeTimer {
 public:
  template <typename Executor>
  WakeTimer(Executor executor, CoreTime time) : timer_(executor), time_(time) {}
  ~WakeTimer() { *alive_ = false; }

  // Runs `tick` at `at` (kInstantMax: never), unless already armed for `at`.
  void Arm(Instant at, std::function<void()> tick) {
    if (at == armed_at_) return;
    armed_at_ = at;
    if (at == kInstantMax) {
      timer_.cancel();
      return;
    }
    timer_.expires_at(time_.ToSteady(at));
    timer_.async_wait(
        [this, at, alive = alive_, tick = std::move(tick)](const asio::error_code& ec) {
          if (ec || !*alive || armed_at_ != at) return;
          armed_at_ = kInstantMax;
          tick();
        });
  }
  void Cancel() {
    armed_at_ = kInstantMax;
    timer_.cancel();
  }

 private:
  asio::steady_timer timer_;
  CoreTime time_;
  Instant armed_at_ = kInstantMax;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace starling::agent
