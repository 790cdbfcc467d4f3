// base/time.h — time as the pure cores see it: an opaque monotonic instant, injected by the
// caller (the Asio runtime's steady clock or the simulator's virtual clock). No core reads a clock.
#pragma once

#include <chrono>
#include <cstdint>

namespace starling {

using Duration = std::chrono::microseconds;

// The epoch of `Instant` is whatever the driver chose (process start, simulation start).
struct CoreClock {
  using duration = Duration;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<CoreClock, Duration>;
  static constexpr bool is_steady = true;
};
using Instant = CoreClock::time_point;

inline constexpr Instant kInstantMax = Instant::max();

inline constexpr Duration Milliseconds(int64_t ms) { return std::chrono::milliseconds(ms); }
inline constexpr Duration Seconds(int64_t s) { return std::chrono::seconds(s); }
inline double ToSeconds(Duration d) { return std::chrono::duration<double>(d).count(); }
inline double ToMilliseconds(Duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace starling
