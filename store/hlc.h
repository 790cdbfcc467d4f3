// store/hlc.h — a hybrid logical clock (Kulkarni et al., 2014), packed in 64 bits.
//
// The high 48 bits are milliseconds of wall time, the low 16 a counter that orders events within
// one millisecond and carries causality past a clock that lags. Stamps issued by one clock strictly
// increase, whatever the wall clock does; the caller persists `last()` so they keep increasing
// across restarts. Pure: the wall time is passed in.
#pragma once

#include <algorithm>
#include <cstdint>

namespace starling::store {

using Hlc = uint64_t;

inline constexpr int kHlcLogicalBits = 16;
inline constexpr uint64_t HlcMillis(Hlc stamp) { return stamp >> kHlcLogicalBits; }
inline constexpr Hlc HlcFromMillis(uint64_t ms) { return ms << kHlcLogicalBits; }

class HybridClock {
 public:
  // `floor`: the highest stamp issued or observed before (from disk); `max_drift_ms`: a remote
  // stamp further ahead of our wall clock than this is not adopted (a peer with a wild clock must
  // not drag ours along); it is counted instead.
  explicit HybridClock(Hlc floor = 0, uint64_t max_drift_ms = 60'000)
      : last_(floor), max_drift_ms_(max_drift_ms) {}

  // A stamp for a local event, greater than every stamp issued or observed so far.
  Hlc Now(uint64_t wall_ms) {
    last_ = std::max(last_ + 1, HlcFromMillis(wall_ms));
    return last_;
  }

  // Takes in a stamp seen on a message, so later local stamps order after it. Returns false (and
  // ignores it) when it lies beyond wall time + max drift.
  bool Observe(Hlc remote, uint64_t wall_ms) {
    if (HlcMillis(remote) > wall_ms + max_drift_ms_) {
      ++rejected_;
      return false;
    }
    last_ = std::max(last_, remote);
    return true;
  }

  Hlc last() const { return last_; }
  uint64_t rejected() const { return rejected_; }

 private:
  Hlc last_;
  uint64_t max_drift_ms_;
  uint64_t rejected_ = 0;
};

}  // namespace starling::store
