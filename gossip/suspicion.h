// gossip/suspicion.h — Lifeguard's dynamic suspicion timeout (Dadgar et al. 2018, §IV-B;
// memberlist suspicion.go). The timeout starts at `max` and falls toward `min` as independent
// confirmations of the suspicion arrive, logarithmically in their number.
#pragma once

#include <set>

#include "gossip/types.h"

namespace starling::gossip {

class Suspicion {
 public:
  // `from` raised the suspicion at `start`; `expected_confirmations` (k) independent confirmations
  // bring the timeout down to `min`. With k < 1 the timeout is `min` from the start.
  Suspicion(NodeName from, int expected_confirmations, Duration min, Duration max, Instant start);

  // Counts `from` as a confirmation. Returns true only for a new, independent confirmer (not the
  // originator, not a repeat), which is when the suspicion is worth re-gossiping.
  bool Confirm(const NodeName& from);

  // When the suspected node is to be declared dead, given the confirmations so far.
  Instant Deadline() const;

  // Caps the deadline at `deadline` (a stronger signal, e.g. a refused connection, arrived).
  void Shorten(Instant deadline);

  int confirmations() const { return static_cast<int>(confirmers_.size()); }

  // The timeout after `confirmations` of `expected`: max - (max - min) * log(c+1)/log(k+1),
  // floored to whole milliseconds and never below min.
  static Duration Timeout(int confirmations, int expected, Duration min, Duration max);

 private:
  NodeName originator_;
  std::set<NodeName> confirmers_;
  int expected_;
  Duration min_;
  Duration max_;
  Instant start_;
  Instant cap_ = kInstantMax;
};

}  // namespace starling::gossip
