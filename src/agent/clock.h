// src/agent/clock.h — the shell's clocks: the wall clock (what the sealer stamps, what events and
// the state log's hybrid clock carry) and the monotonic instant the pure cores are driven with.
#pragma once

#include <chrono>
#include <cstdint>

#include "base/time.h"

namespace starling::agent {

// Wall-clock milliseconds since the Unix epoch.
inline int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The cores' Instant: the steady clock since `start` (the agent's start). Any thread.
class CoreTime {
 public:
  CoreTime() : start_(std::chrono::steady_clock::now()) {}
  Instant Now() const {
    return Instant(std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - start_));
  }
  std::chrono::steady_clock::time_point ToSteady(Instant instant) const {
    return start_ + instant.time_since_epoch();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace starling::agent
