#include "store/images/chunker.h"

#include <array>
#include <bit>

namespace starling::images {
namespace {

// 256 fixed pseudo-random words (splitmix64 from a fixed seed): part of the format, since they
// decide where chunks are cut. Never change them, or every image re-chunks differently.
constexpr std::array<uint64_t, 256> MakeGear() {
  std::array<uint64_t, 256> gear{};
  uint64_t state = 0x5354524c494e4721ULL;  // "STRLING!"
  for (auto& word : gear) {
    state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    word = z ^ (z >> 31);
  }
  return gear;
}
constexpr std::array<uint64_t, 256> kGear = MakeGear();

// `bits` ones in the top of the word: the gear hash shifts left, so the top bits carry the most
// bytes of history.
constexpr uint64_t TopBits(int bits) { return bits == 0 ? 0 : ~uint64_t{0} << (64 - bits); }

}  // namespace

Status ChunkerOptions::Validate() const {
  if (!std::has_single_bit(avg_bytes) || avg_bytes < 256 || avg_bytes > (16u << 20)) {
    return Status::InvalidArgument(
        "the average chunk size must be a power of two from 256 B to 16 MiB");
  }
  if (min_bytes == 0 || min_bytes >= avg_bytes || avg_bytes >= max_bytes) {
    return Status::InvalidArgument("chunk sizes must satisfy 0 < min < avg < max");
  }
  if (max_bytes > (64u << 20)) return Status::InvalidArgument("the largest chunk is 64 MiB");
  return Status::Ok();
}

Chunker::Chunker(const ChunkerOptions& options) : options_(options) {
  STARLING_CHECK(options_.Validate().ok());
  const int bits = std::countr_zero(options_.avg_bytes);
  mask_small_ = TopBits(bits + 2);  // normalization level 2, as the paper recommends
  mask_large_ = TopBits(bits - 2);
}

size_t Chunker::NextCut(std::span<const uint8_t> data) const {
  const size_t n = data.size();
  if (n <= options_.min_bytes) return n;
  const size_t limit = n < options_.max_bytes ? n : options_.max_bytes;
  const size_t normal = limit < options_.avg_bytes ? limit : options_.avg_bytes;
  uint64_t hash = 0;
  // The hash is warmed over the 64 bytes before `min`, so a cut never depends on where the
  // previous chunk ended (bytes further back have been shifted out anyway).
  size_t i = options_.min_bytes >= 64 ? options_.min_bytes - 64 : 0;
  for (; i < options_.min_bytes; ++i) hash = (hash << 1) + kGear[data[i]];
  for (; i < normal; ++i) {
    hash = (hash << 1) + kGear[data[i]];
    if ((hash & mask_small_) == 0) return i + 1;
  }
  for (; i < limit; ++i) {
    hash = (hash << 1) + kGear[data[i]];
    if ((hash & mask_large_) == 0) return i + 1;
  }
  return limit;
}

}  // namespace starling::images
