// gossip/awareness.h — Lifeguard's local health multiplier (Dadgar et al. 2018, §IV-A;
// memberlist awareness.go). A node that misses nacks or has to refute suspicions of itself is
// probably the slow one, so it stretches its own probe timers instead of accusing others.
#pragma once

#include <algorithm>

#include "base/time.h"

namespace starling::gossip {

class Awareness {
 public:
  // REQUIRES: max_multiplier >= 1. The score stays in [0, max_multiplier - 1].
  explicit Awareness(int max_multiplier) : max_(max_multiplier) {}

  void ApplyDelta(int delta) { score_ = std::clamp(score_ + delta, 0, max_ - 1); }
  int score() const { return score_; }
  Duration Scale(Duration timeout) const { return timeout * (score_ + 1); }

 private:
  int max_;
  int score_ = 0;
};

}  // namespace starling::gossip
