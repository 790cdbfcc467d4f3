// [unit] tests of content-defined chunking and image path rules.
#include "store/images/chunker.h"

#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "store/images/paths.h"

namespace starling::images {
namespace {

std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> bytes(n);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  return bytes;
}

// The chunks of `data`, as (offset, length).
std::vector<std::pair<size_t, size_t>> Chunks(const Chunker& chunker,
                                              const std::vector<uint8_t>& data) {
  std::vector<std::pair<size_t, size_t>> chunks;
  size_t at = 0;
  while (at < data.size()) {
    const size_t length = chunker.NextCut(std::span<const uint8_t>(data).subspan(at));
    REQUIRE(length > 0);
    chunks.emplace_back(at, length);
    at += length;
  }
  return chunks;
}

std::set<std::string> Contents(const std::vector<uint8_t>& data,
                               const std::vector<std::pair<size_t, size_t>>& chunks) {
  std::set<std::string> contents;
  for (auto [at, length] : chunks) {
    contents.emplace(reinterpret_cast<const char*>(data.data()) + at, length);
  }
  return contents;
}

TEST_CASE("chunk sizes respect the bounds and cluster near the average", "[unit]") {
  const Chunker chunker{ChunkerOptions{}};
  const auto data = RandomBytes(16 << 20, 1);
  const auto chunks = Chunks(chunker, data);
  size_t total = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const size_t length = chunks[i].second;
    total += length;
    CHECK(length <= 256 * 1024);
    if (i + 1 < chunks.size()) CHECK(length > 16 * 1024);
  }
  CHECK(total == data.size());
  const double average = static_cast<double>(data.size()) / static_cast<double>(chunks.size());
  CHECK(average > 40 * 1024);
  CHECK(average < 100 * 1024);
  // Small inputs are one chunk.
  CHECK(chunker.NextCut(std::span<const uint8_t>(data).subspan(0, 1000)) == 1000);
}

TEST_CASE("a 1-byte insert, delete or change moves at most 2 chunks", "[unit]") {
  const Chunker chunker{ChunkerOptions{}};
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    const auto data = RandomBytes(4 << 20, 100 + trial);
    const auto before = Contents(data, Chunks(chunker, data));
    const size_t at = rng() % data.size();
    for (int edit = 0; edit < 3; ++edit) {
      std::vector<uint8_t> changed = data;
      if (edit == 0) changed.insert(changed.begin() + static_cast<long>(at), 0x5a);
      if (edit == 1) changed.erase(changed.begin() + static_cast<long>(at));
      if (edit == 2) changed[at] ^= 0xff;
      size_t fresh = 0;
      for (const auto& chunk : Contents(changed, Chunks(chunker, changed))) {
        fresh += before.contains(chunk) ? 0 : 1;
      }
      INFO("trial " << trial << " edit " << edit << " at " << at);
      CHECK(fresh <= 2);
    }
  }
}

TEST_CASE("chunk cuts are a fixed function of the content", "[unit]") {
  // The gear table is part of the format: these cuts must never change.
  const Chunker chunker{ChunkerOptions{}};
  const auto data = RandomBytes(1 << 20, 42);
  const auto first = Chunks(chunker, data);
  CHECK(Chunks(chunker, data) == first);
  ChunkerOptions small{1024, 4096, 16384};
  REQUIRE(small.Validate().ok());
  const Chunker small_chunker{small};
  CHECK(Chunks(small_chunker, data).size() > first.size() * 8);
  CHECK_FALSE((ChunkerOptions{4096, 3000, 8192}).Validate().ok());   // avg not a power of two
  CHECK_FALSE((ChunkerOptions{8192, 4096, 16384}).Validate().ok());  // min above avg
  CHECK_FALSE((ChunkerOptions{1024, 4096, 4096}).Validate().ok());   // max not above avg
}

TEST_CASE("image paths reject everything that could leave the root", "[unit]") {
  CHECK(ValidateImagePath("var/www/index.php").ok());
  CHECK(ValidateImagePath(".htaccess").ok());
  CHECK(ValidateImagePath("a/..b/c..").ok());
  for (const std::string& bad :
       {std::string(""), std::string("/etc/passwd"), std::string("../x"), std::string("a/../../x"),
        std::string("a//b"), std::string("a/./b"), std::string("a/"), std::string("a\0b", 3),
        std::string(256, 'n'), std::string(5000, 'p')}) {
    INFO(bad);
    CHECK(ValidateImagePath(bad).code() == StatusCode::kInvalidArgument);
  }
  CHECK(*NormalizeArchivePath("./var/www/") == "var/www");
  CHECK(*NormalizeArchivePath("./") == "");
  CHECK_FALSE(NormalizeArchivePath("/abs").ok());
  CHECK_FALSE(NormalizeArchivePath("./a/../../b").ok());

  CHECK(ValidateLinkTarget("var/www/current", "releases/7").ok());
  CHECK(ValidateLinkTarget("var/www/current", "../lib/x").ok());
  CHECK(ValidateLinkTarget("var/www/x", "/usr/share/zoneinfo").ok());  // the copy's own root
  CHECK(ValidateLinkTarget("var/www/x", "../../../etc").code() == StatusCode::kInvalidArgument);
  CHECK(ValidateLinkTarget("x", "..").code() == StatusCode::kInvalidArgument);
  CHECK(ValidateLinkTarget("a/b", "/../../etc/shadow").code() == StatusCode::kInvalidArgument);
  CHECK_FALSE(ValidateLinkTarget("a", "").ok());
}

}  // namespace
}  // namespace starling::images
