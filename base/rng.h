// base/rng.h — a seeded, portable PRNG for the pure cores and the simulator.
//
// std::uniform_int_distribution is implementation-defined, so a seed would not replay across
// standard libraries; this is xoshiro256** seeded through splitmix64 (Blackman & Vigna), with
// Lemire's nearly-divisionless bounded draw. Not for cryptography.
#pragma once

#include <cstdint>
#include <utility>

namespace starling {

__extension__ typedef unsigned __int128 Uint128;

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& word : state_) word = SplitMix64(&seed);
  }

  uint64_t Next() {
    const uint64_t result = RotateLeft(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = RotateLeft(state_[3], 45);
    return result;
  }

  // Uniform in [0, bound). REQUIRES: bound > 0.
  uint64_t Uniform(uint64_t bound) {
    Uint128 product = static_cast<Uint128>(Next()) * bound;
    auto low = static_cast<uint64_t>(product);
    if (low < bound) {
      const uint64_t threshold = -bound % bound;
      while (low < threshold) {
        product = static_cast<Uint128>(Next()) * bound;
        low = static_cast<uint64_t>(product);
      }
    }
    return static_cast<uint64_t>(product >> 64);
  }

  // Uniform in [0, 1).
  double NextDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  bool Bernoulli(double p) { return NextDouble() < p; }

  static uint64_t SplitMix64(uint64_t* x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  static uint64_t RotateLeft(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t state_[4];
};

// Fisher–Yates shuffle with our own generator, so the order replays from the seed.
template <typename Container>
void Shuffle(Container* items, Rng* rng) {
  for (size_t i = items->size(); i > 1; --i) {
    const size_t j = rng->Uniform(i);
    std::swap((*items)[i - 1], (*items)[j]);
  }
}

}  // namespace starling
