#include "gossip/suspicion.h"

#include <algorithm>
#include <cmath>

namespace starling::gossip {

Suspicion::Suspicion(NodeName from, int expected_confirmations, Duration min, Duration max,
                     Instant start)
    : originator_(std::move(from)),
      expected_(expected_confirmations),
      min_(min),
      max_(std::max(min, max)),
      start_(start) {}

bool Suspicion::Confirm(const NodeName& from) {
  if (from == originator_) return false;
  if (expected_ < 1 || confirmations() >= expected_) return false;
  return confirmers_.insert(from).second;
}

Instant Suspicion::Deadline() const {
  const Instant deadline =
      start_ + (expected_ < 1 ? min_ : Timeout(confirmations(), expected_, min_, max_));
  return std::min(deadline, cap_);
}

void Suspicion::Shorten(Instant deadline) { cap_ = std::min(cap_, deadline); }

Duration Suspicion::Timeout(int confirmations, int expected, Duration min, Duration max) {
  if (expected < 1) return min;
  const double fraction = std::log(confirmations + 1.0) / std::log(expected + 1.0);
  const double max_seconds = ToSeconds(max);
  const double raw = max_seconds - fraction * (max_seconds - ToSeconds(min));
  const Duration timeout = std::chrono::milliseconds(static_cast<int64_t>(std::floor(raw * 1000)));
  return std::max(timeout, min);
}

}  // namespace starling::gossip
