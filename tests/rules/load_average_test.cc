// [unit] the copy load average against the kernel's formula (kernel/sched/loadavg.c).
#include "src/rules/load_average.h"

#include <catch2/catch.hpp>
#include <cmath>

namespace starling::rules {
namespace {

// calc_load() as the kernel writes it, with its constants for a 5 s sample.
constexpr uint64_t kFixed1 = 1 << 11;
constexpr uint64_t kExp1 = 1884, kExp5 = 2014, kExp15 = 2037;
uint64_t KernelCalcLoad(uint64_t load, uint64_t exp, uint64_t active) {
  uint64_t newload = load * exp + active * (kFixed1 - exp);
  if (active >= load) newload += kFixed1 - 1;
  return newload / kFixed1;
}

TEST_CASE("the decay factors are the kernel's for its 5 s sample", "[unit]") {
  CHECK(LoadAverage::DecayFactor(Seconds(5), Seconds(60)) == kExp1);
  CHECK(LoadAverage::DecayFactor(Seconds(5), Seconds(300)) == kExp5);
  CHECK(LoadAverage::DecayFactor(Seconds(5), Seconds(900)) == kExp15);
  CHECK(LoadAverage::DecayFactor(Seconds(1), Seconds(60)) == 2014);  // 2048 * e^(-1/60)
}

TEST_CASE("a 5 s load average follows the kernel's calc_load step for step", "[unit]") {
  LoadAverage ours(Seconds(5));
  uint64_t kernel = 0;
  // Rises, holds, bursts, falls to idle: every value equal, rounding included.
  const uint32_t pattern[] = {1, 1, 1, 3, 3, 0, 7, 2, 2, 2, 0, 0, 1, 4, 0};
  for (int round = 0; round < 40; ++round) {
    for (uint32_t runnable : pattern) {
      ours.Sample(runnable);
      kernel = KernelCalcLoad(kernel, kExp1, runnable * kFixed1);
      REQUIRE(ours.fixed() == kernel);
    }
  }
}

TEST_CASE("a one-second load average has the one-minute constant", "[unit]") {
  struct Case {
    uint32_t runnable;
    int seconds;
    double expected;  // n * (1 - e^(-t/60)) from zero
  };
  for (const Case c :
       {Case{1, 60, 1 - std::exp(-1.0)}, Case{2, 60, 2 * (1 - std::exp(-1.0))},
        Case{3, 30, 3 * (1 - std::exp(-0.5))}, Case{4, 120, 4 * (1 - std::exp(-2.0))}}) {
    LoadAverage load;
    for (int i = 0; i < c.seconds; ++i) load.Sample(c.runnable);
    CAPTURE(c.runnable, c.seconds);
    // The kernel rounds up while the load rises: about one fixed-point unit per sample, which
    // adds up (damped) to at most 1 / (1 - e) units = 0.03.
    CHECK(load.value() >= c.expected);
    CHECK(load.value() <= c.expected + 0.03);
  }
  // A steady count ends exactly there; an idle copy ends exactly at zero (the rounding).
  LoadAverage load;
  for (int i = 0; i < 3600; ++i) load.Sample(2);
  CHECK(load.fixed() == 2 * LoadAverage::kFixed1);
  for (int i = 0; i < 3600; ++i) load.Sample(0);
  CHECK(load.fixed() == 0);
}

}  // namespace
}  // namespace starling::rules
