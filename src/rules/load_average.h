// src/rules/load_average.h — a copy's load average, computed exactly like the kernel's
// (kernel/sched/loadavg.c: calc_load) over the runnable tasks of the copy's cgroup.
//
// The kernel samples the count of runnable (and uninterruptible) tasks every 5 s and keeps
//   load = load * e + active * (1 - e),   e = exp(-interval / period)
// in 11-bit fixed point, rounding up while the load rises, so a steady count n ends at exactly n
// and an idle copy at exactly 0. A copy is sampled every second, so e is computed for that
// interval; for 5 s and one minute it is the kernel's EXP_1 (1884).
#pragma once

#include <cstdint>

#include "base/time.h"

namespace starling::rules {

class LoadAverage {
 public:
  static constexpr int kFixedShift = 11;  // the kernel's FSHIFT
  static constexpr uint64_t kFixed1 = uint64_t{1} << kFixedShift;

  // The decay per sample in fixed point: kFixed1 * exp(-interval / period), rounded.
  // REQUIRES: interval > 0, period > 0.
  static uint64_t DecayFactor(Duration interval, Duration period);

  // One sample every `interval`, one-minute constant.
  explicit LoadAverage(Duration interval = Seconds(1));

  // Folds in one sample: `runnable` tasks running or waiting to run (or in uninterruptible sleep,
  // as the kernel counts them).
  void Sample(uint32_t runnable);

  // Starts from another copy's average: a copy that replaces one in a rollout takes over its
  // share of the load, and an average that began at 0 would read as the load halving for a
  // minute (the autoscaler would remove a copy the site needs).
  void StartFrom(const LoadAverage& other) { load_ = other.load_; }

  double value() const { return static_cast<double>(load_) / static_cast<double>(kFixed1); }
  uint64_t fixed() const { return load_; }

 private:
  uint64_t decay_;
  uint64_t load_ = 0;
};

}  // namespace starling::rules
