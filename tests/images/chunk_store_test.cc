// [unit] tests of the chunk store: content addressing, compression, and corruption caught on read.
#include "store/rocksdb/chunk_store.h"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <random>

namespace starling::images {
namespace {

TEST_CASE("chunks are stored once, verified on every read, and a corrupt one is reported",
          "[unit]") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("starling-chunks-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "<p>line " + std::to_string(i % 17) + " of a page</p>\n";
  std::string noise(50000, '\0');
  std::mt19937_64 rng(3);
  for (char& c : noise) c = static_cast<char>(rng());
  const Hash text_hash = Sha256(text), noise_hash = Sha256(noise);
  {
    auto store = ChunkStore::Open(dir.string());
    REQUIRE(store.ok());
    auto span = [](const std::string& s) {
      return std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    };
    CHECK(*(*store)->Put(text_hash, span(text)) == true);
    CHECK(*(*store)->Put(text_hash, span(text)) == false);  // already there
    CHECK(*(*store)->Put(noise_hash, span(noise)) == true);
    REQUIRE((*store)->Sync().ok());
    CHECK((*store)->Has(text_hash));
    CHECK(*(*store)->Get(text_hash) == text);
    auto compressed = (*store)->GetCompressed(text_hash);
    REQUIRE(compressed.ok());
    CHECK(compressed->size() < text.size() / 5);  // zstd: repetitive text shrinks

    // A peer's bytes are checked against the name before they are kept.
    CHECK((*store)->PutCompressed(noise_hash, *compressed).code() == StatusCode::kCorruption);
    CHECK((*store)->PutCompressed(noise_hash, "not zstd").code() == StatusCode::kCorruption);
    REQUIRE((*store)->Sync().ok());
  }
  auto store = ChunkStore::Open(dir.string());
  REQUIRE(store.ok());
  CHECK(*(*store)->Get(noise_hash) == noise);  // survived the reopen
  // Bytes rotting on disk are caught on read.
  auto good = (*store)->GetCompressed(text_hash);
  REQUIRE(good.ok());
  std::string rotten = *good;
  rotten[rotten.size() / 2] ^= 0x40;
  REQUIRE((*store)->CorruptForTest(text_hash, rotten).ok());
  CHECK((*store)->Get(text_hash).status().code() == StatusCode::kCorruption);
  CHECK((*store)->GetCompressed(text_hash).status().code() == StatusCode::kCorruption);
  // ... and replaced by a good copy.
  REQUIRE((*store)->PutCompressed(text_hash, *good).ok());
  CHECK(*(*store)->Get(text_hash) == text);
  // A batch from a peer: what matches its name is kept, what does not is refused by name.
  std::string other = text + "<p>one more</p>";
  const Hash other_hash = Sha256(other);
  auto other_stored = (*store)->GetCompressed(noise_hash);  // bytes of another chunk
  REQUIRE(other_stored.ok());
  REQUIRE((*store)->Delete(noise_hash).ok());
  const std::vector<std::pair<Hash, std::string>> batch = {
      {noise_hash, *other_stored}, {other_hash, *other_stored}, {text_hash, *good}};
  auto statuses = (*store)->PutCompressedBatch(batch);
  REQUIRE(statuses.ok());
  REQUIRE(statuses->size() == 3);
  CHECK((*statuses)[0].ok());
  CHECK((*statuses)[1].code() == StatusCode::kCorruption);
  CHECK((*statuses)[2].ok());
  CHECK(*(*store)->Get(noise_hash) == noise);
  CHECK_FALSE((*store)->Has(other_hash));
  REQUIRE((*store)->Delete(text_hash).ok());
  CHECK_FALSE((*store)->Has(text_hash));
  CHECK((*store)->Get(text_hash).status().code() == StatusCode::kNotFound);
  store->reset();
  std::filesystem::remove_all(dir);
}

TEST_CASE("the chunk store lists its chunks and gives deleted chunks' space back",
          "[unit][images]") {
  const auto dir = std::filesystem::temp_directory_path() / "starling-chunk-reclaim-test";
  std::filesystem::remove_all(dir);
  auto store = ChunkStore::Open(dir.string());
  REQUIRE(store.ok());
  std::mt19937_64 rng(5);
  std::vector<Hash> hashes;
  for (int i = 0; i < 64; ++i) {  // 16 MiB of incompressible chunks
    std::vector<uint8_t> bytes(256 << 10);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    hashes.push_back(Sha256(bytes));
    REQUIRE((*store)->Put(hashes.back(), bytes).ok());
  }
  REQUIRE((*store)->Sync().ok());
  auto listed = (*store)->List();
  REQUIRE(listed.ok());
  std::vector<Hash> sorted = hashes;
  std::sort(sorted.begin(), sorted.end());
  CHECK(*listed == sorted);
  const uint64_t full = (*store)->SizeOnDisk();
  CHECK(full >= (16u << 20));
  for (size_t i = 0; i < hashes.size(); i += 4) {  // keep one in four
    for (size_t j = i + 1; j < i + 4; ++j) REQUIRE((*store)->Delete(hashes[j]).ok());
  }
  REQUIRE((*store)->Sync().ok());
  REQUIRE((*store)->ReclaimSpace().ok());
  CHECK((*store)->SizeOnDisk() < full / 2);
  for (size_t i = 0; i < hashes.size(); ++i) CHECK((*store)->Has(hashes[i]) == (i % 4 == 0));
  CHECK((*store)->Get(hashes[0]).ok());
  store->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace starling::images
