// [unit] tests of the RocksDB storage: what is written is read back, across a reopen.
#include "store/rocksdb/rocksdb_storage.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "store/replica.h"

namespace starling::store {
namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("starling-store-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

TEST_CASE("RocksDB storage keeps log, state and metadata across a reopen", "[unit]") {
  TempDir dir;
  const Origin a = "node-a/00000000000000aa";
  {
    auto storage = RocksDbStorage::Open(dir.path.string());
    REQUIRE(storage.ok());
    WriteBatch batch;
    batch.origin = a;
    batch.hlc = 77;
    for (uint64_t seq = 1; seq <= 5; ++seq) {
      Entry e{a, seq, seq * 10, "site/s" + std::to_string(seq % 3), "v" + std::to_string(seq)};
      batch.log_puts.push_back(e);
    }
    batch.state_puts.push_back(batch.log_puts[4]);
    batch.state_puts.push_back(batch.log_puts[3]);
    batch.heads[a] = 5;
    batch.floors[a] = 2;
    REQUIRE((*storage)->Write(batch).ok());
    WriteBatch deletes;
    deletes.log_deletes.emplace_back(a, 2);
    deletes.sync = false;
    REQUIRE((*storage)->Write(deletes).ok());
    REQUIRE((*storage)->Sync().ok());
  }
  auto storage = RocksDbStorage::Open(dir.path.string());
  REQUIRE(storage.ok());
  auto meta = (*storage)->LoadMeta();
  REQUIRE(meta.ok());
  CHECK(meta->origin == a);
  CHECK(meta->hlc == 77);
  CHECK(meta->heads.at(a) == 5);
  CHECK(meta->floors.at(a) == 2);
  std::vector<Entry> log;
  REQUIRE((*storage)->ReadLog(a, 0, 4, 1 << 20, &log).ok());
  REQUIRE(log.size() == 3);  // 1, 3, 4: 2 was deleted, 5 is past `upto`
  CHECK(log[0].seq == 1);
  CHECK(log[1].seq == 3);
  std::vector<Entry> state;
  REQUIRE((*storage)->ScanState("site/", "", 100, 1 << 20, &state).ok());
  REQUIRE(state.size() == 2);
  CHECK(state[0].key == "site/s1");
  CHECK(state[1].key == "site/s2");
  state.clear();
  REQUIRE((*storage)->ScanState("site/", "site/s1", 100, 1 << 20, &state).ok());
  REQUIRE(state.size() == 1);
  auto got = (*storage)->GetState("site/s2");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->value == "v5");
  CHECK((*storage)->SizeOnDisk() > 0);
}

TEST_CASE("a replica resumes from RocksDB after a restart", "[unit]") {
  TempDir dir;
  Origin origin;
  {
    auto storage = RocksDbStorage::Open(dir.path.string());
    REQUIRE(storage.ok());
    Replica replica({}, "node-a", storage->get(), 1);
    REQUIRE(replica.Open(1000, 42).ok());
    origin = replica.origin();
    for (int i = 0; i < 3; ++i) {
      REQUIRE(replica
                  .Write(Instant{}, 1000, "k/" + std::to_string(i), "v", false, AckMode::kLocal,
                         Instant{} + Seconds(1))
                  .ok());
    }
    StoreOutbox out;
    REQUIRE(replica.Flush(Instant{}, &out).ok());
    CHECK(out.acks.size() == 3);
  }
  auto storage = RocksDbStorage::Open(dir.path.string());
  REQUIRE(storage.ok());
  Replica replica({}, "node-a", storage->get(), 1);
  REQUIRE(replica.Open(500, 43).ok());  // the wall clock went back: the stored clock holds
  CHECK(replica.origin() == origin);
  CHECK(replica.heads().at(origin) == 3);
  auto ticket = replica.Write(Instant{}, 500, "k/9", "w", false, AckMode::kLocal, Instant{});
  REQUIRE(ticket.ok());
  StoreOutbox out;
  REQUIRE(replica.Flush(Instant{}, &out).ok());
  REQUIRE(out.acks.size() == 1);
  CHECK(out.acks[0].entry.seq == 4);
  CHECK(out.acks[0].entry.hlc > HlcFromMillis(1000));

  Replica other({}, "node-b", storage->get(), 1);
  CHECK(other.Open(1000, 44).code() == StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace starling::store
