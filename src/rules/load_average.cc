#include "src/rules/load_average.h"

#include <cmath>

#include "base/status.h"

namespace starling::rules {

uint64_t LoadAverage::DecayFactor(Duration interval, Duration period) {
  STARLING_CHECK(interval > Duration::zero() && period > Duration::zero());
  const double ratio = std::chrono::duration<double>(interval) / period;
  return static_cast<uint64_t>(std::llround(static_cast<double>(kFixed1) * std::exp(-ratio)));
}

LoadAverage::LoadAverage(Duration interval) : decay_(DecayFactor(interval, Seconds(60))) {}

void LoadAverage::Sample(uint32_t runnable) {
  // calc_load(): the same arithmetic, the same rounding.
  const uint64_t active = static_cast<uint64_t>(runnable) * kFixed1;
  uint64_t next = load_ * decay_ + active * (kFixed1 - decay_);
  if (active >= load_) next += kFixed1 - 1;
  load_ = next / kFixed1;
}

}  // namespace starling::rules
