// [core] tests of the chunk puller: which chunk is asked of which peer, and when.
#include "store/images/puller.h"

#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <set>

namespace starling::images {
namespace {

std::vector<ChunkRef> Chunks(int n, uint32_t size = 64 << 10) {
  std::vector<ChunkRef> chunks(n);
  for (int i = 0; i < n; ++i) {
    chunks[i].hash.fill(0);
    chunks[i].hash[0] = static_cast<uint8_t>(i >> 8);
    chunks[i].hash[1] = static_cast<uint8_t>(i);
    chunks[i].hash[31] = 1;
    chunks[i].size = size;
  }
  return chunks;
}

Instant At(int64_t ms) { return Instant(Milliseconds(ms)); }

TEST_CASE("the puller asks several peers at once, each for different chunks", "[core][images]") {
  PullerOptions options;
  options.batch_chunks = 16;
  options.per_peer_in_flight = 2;
  options.max_in_flight = 6;
  Puller puller(options);
  puller.Want(Chunks(300), 0);
  std::vector<PullRequest> out;
  puller.SetPeers(At(0), {"b", "c", "d"}, &out);
  REQUIRE(out.size() == 6);
  std::map<std::string, int> per_peer;
  std::set<Hash> asked;
  for (const auto& request : out) {
    ++per_peer[request.peer];
    CHECK(request.hashes.size() == 16);
    for (const auto& hash : request.hashes) CHECK(asked.insert(hash).second);
  }
  CHECK(per_peer == std::map<std::string, int>{{"b", 2}, {"c", 2}, {"d", 2}});
  CHECK(puller.in_flight() == 6);
}

TEST_CASE("the puller starts at its offset and wraps around", "[core][images]") {
  PullerOptions options;
  options.batch_chunks = 4;
  options.max_in_flight = 1;
  Puller puller(options);
  const auto chunks = Chunks(10);
  puller.Want(chunks, 0.5);
  std::vector<PullRequest> out;
  puller.SetPeers(At(0), {"b"}, &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].hashes ==
        std::vector<Hash>{chunks[5].hash, chunks[6].hash, chunks[7].hash, chunks[8].hash});
  const auto first = out[0];
  out.clear();
  puller.OnReply(At(1), first.id, first.hashes, {}, &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].hashes ==
        std::vector<Hash>{chunks[9].hash, chunks[0].hash, chunks[1].hash, chunks[2].hash});
}

TEST_CASE("a chunk a peer lacks is asked of another peer, and of it again only later",
          "[core][images]") {
  PullerOptions options;
  options.batch_chunks = 8;
  options.per_peer_in_flight = 1;
  options.max_in_flight = 1;
  options.recheck_lacking = Seconds(2);
  Puller puller(options);
  const auto chunks = Chunks(8);
  puller.Want(chunks, 0);
  std::vector<PullRequest> out;
  puller.SetPeers(At(0), {"b", "c"}, &out);
  REQUIRE(out.size() == 1);
  const PullRequest first = out[0];
  out.clear();
  // The peer has the first half only.
  std::vector<Hash> got(first.hashes.begin(), first.hashes.begin() + 4);
  std::vector<Hash> lacking(first.hashes.begin() + 4, first.hashes.end());
  puller.OnReply(At(10), first.id, got, lacking, &out);
  CHECK(puller.wanted() == 4);
  REQUIRE(out.size() == 1);
  CHECK(out[0].peer != first.peer);
  CHECK(out[0].hashes == lacking);
  const PullRequest second = out[0];
  out.clear();
  // The other peer lacks them too: nobody is asked until the recheck time.
  puller.OnReply(At(20), second.id, {}, lacking, &out);
  CHECK(out.empty());
  CHECK(puller.NextWake() == At(10) + Seconds(2));
  puller.Tick(At(10) + Seconds(2), &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].peer == first.peer);
  out.clear();
  CHECK(puller.stats().lacking_answers == 8);
}

TEST_CASE("a failed request rests its peer and its chunks go elsewhere", "[core][images]") {
  PullerOptions options;
  options.batch_chunks = 4;
  options.per_peer_in_flight = 1;
  options.max_in_flight = 2;
  options.rest_after_failure = Seconds(1);
  Puller puller(options);
  puller.Want(Chunks(8), 0);
  std::vector<PullRequest> out;
  puller.SetPeers(At(0), {"b", "c"}, &out);
  REQUIRE(out.size() == 2);
  const PullRequest to_b = out[0].peer == "b" ? out[0] : out[1];
  const PullRequest to_c = out[0].peer == "b" ? out[1] : out[0];
  out.clear();
  puller.OnFailed(At(5), to_b.id, &out);
  CHECK(out.empty());  // c is busy (one request at a time), b rests
  puller.OnReply(At(6), to_c.id, to_c.hashes, {}, &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].peer == "c");
  CHECK(out[0].hashes == to_b.hashes);
  CHECK(puller.stats().failures == 1);
  // A dead peer leaves the set; its answers, if they come, are ignored.
  out.clear();
  puller.SetPeers(At(7), {"c"}, &out);
  CHECK(puller.wanted() == 4);
}

TEST_CASE("the puller keeps to its bandwidth budget", "[core][images]") {
  PullerOptions options;
  options.batch_chunks = 16;  // 1 MiB batches
  options.batch_bytes = 1 << 20;
  options.bytes_per_second = 2 << 20;
  options.max_in_flight = 4;
  Puller puller(options);
  puller.Want(Chunks(4000), 0);  // 250 MiB: more than 10 s worth
  std::vector<PullRequest> out;
  puller.SetPeers(At(0), {"b", "c"}, &out);
  uint64_t bytes = 0;
  Instant now = At(0);
  // Peers answer at once; run 10 s of virtual time through the wake-ups.
  while (now < At(10000)) {
    std::vector<PullRequest> sent = std::move(out);
    out.clear();
    for (const auto& request : sent) {
      bytes += request.hashes.size() * (64 << 10);
      puller.OnReply(now, request.id, request.hashes, {}, &out);
    }
    if (out.empty()) {
      REQUIRE(puller.NextWake() != kInstantMax);
      now = std::max(now, puller.NextWake());
      puller.Tick(now, &out);
    }
  }
  // 2 MiB/s for 10 s plus one second's burst and one batch of debt.
  CHECK(bytes >= uint64_t{20} << 20);
  CHECK(bytes <= uint64_t{23} << 20);
}

TEST_CASE("whatever peers lack or fail, every chunk arrives once someone holds it",
          "[core][images]") {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    PullerOptions options;
    options.batch_chunks = 1 + rng() % 32;
    options.per_peer_in_flight = 1 + static_cast<int>(rng() % 3);
    options.max_in_flight = 1 + static_cast<int>(rng() % 8);
    Puller puller(options);
    // Every fourth seed: more chunks than one look scans (4096) and enough to compact the order.
    const auto chunks = Chunks(seed % 4 == 0 ? 9000 : 500, 1000);
    puller.Want(chunks, static_cast<double>(rng() % 100) / 100);
    // Each peer holds a random part; together they hold everything.
    std::map<std::string, std::set<Hash>> holds;
    for (const auto& chunk : chunks)
      holds[std::string(1, static_cast<char>('b' + rng() % 3))].insert(chunk.hash);
    std::vector<PullRequest> out;
    puller.SetPeers(At(0), {"b", "c", "d"}, &out);
    Instant now = At(0);
    std::set<Hash> received;
    for (int round = 0; round < 100000 && puller.wanted() > 0; ++round) {
      now += Milliseconds(10);
      std::vector<PullRequest> sent = std::move(out);
      out.clear();
      for (const auto& request : sent) {
        if (rng() % 10 == 0) {
          puller.OnFailed(now, request.id, &out);
          continue;
        }
        std::vector<Hash> got, lacking;
        for (const auto& hash : request.hashes) {
          if (!holds[request.peer].contains(hash)) {
            lacking.push_back(hash);
          } else if (rng() % 20 != 0) {  // now and then a chunk fails verification
            got.push_back(hash);
            CHECK(received.insert(hash).second);
          }
        }
        puller.OnReply(now, request.id, got, lacking, &out);
      }
      if (out.empty() && puller.in_flight() == 0 && puller.wanted() > 0) {
        REQUIRE(puller.NextWake() != kInstantMax);
        now = std::max(now, puller.NextWake());
        puller.Tick(now, &out);
      }
    }
    INFO("seed " << seed);
    CHECK(puller.wanted() == 0);
    CHECK(received.size() == chunks.size());
  }
}

}  // namespace
}  // namespace starling::images
