// starling-bench-statelog — local append throughput of the state log against the physical limit:
// a raw RocksDB write-batch loop doing the same writes (log entry, state winner, head) in the same
// binary, on the same disk, in the same run. Prints a table. Not a test: timing lives here.
//   starling-bench-statelog DIR [writes-per-case]
#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "store/codec.h"
#include "store/replica.h"
#include "store/rocksdb/rocksdb_storage.h"

namespace {

using namespace starling;
using Clock = std::chrono::steady_clock;

const std::string kValue(200, 'v');

std::string LogKey(uint64_t seq) {
  std::string key = "bench/0000000000000001";
  key.push_back('\0');
  for (int i = 7; i >= 0; --i) key.push_back(static_cast<char>((seq >> (8 * i)) & 0xff));
  return key;
}

// The physical limit: the same three puts per write, `group` writes per synced batch.
double RawRocksDb(const std::string& dir, int writes, int group) {
  std::filesystem::remove_all(dir);
  rocksdb::Options options;
  options.create_if_missing = true;
  options.compression = rocksdb::kZSTD;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(options, dir, &raw).ok()) return -1;
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions sync;
  sync.sync = true;
  const auto start = Clock::now();
  for (int i = 0; i < writes; i += group) {
    rocksdb::WriteBatch batch;
    for (int j = i; j < i + group && j < writes; ++j) {
      store::Entry entry{"bench/0000000000000001", static_cast<uint64_t>(j + 1),
                         static_cast<uint64_t>(j + 1), fmt::format("k/{}", j % 10000), kValue};
      const std::string encoded = store::EncodeEntry(entry);
      batch.Put(LogKey(j + 1), encoded);
      batch.Put("s" + entry.key, encoded);
    }
    batch.Put("head", std::to_string(i));
    if (!db->Write(sync, &batch).ok()) return -1;
  }
  return writes / std::chrono::duration<double>(Clock::now() - start).count();
}

// The replica: Write() x group, then one Flush() (one synced batch), as the agent does.
double Replica(const std::string& dir, int writes, int group) {
  std::filesystem::remove_all(dir);
  auto storage = store::RocksDbStorage::Open(dir);
  if (!storage.ok()) return -1;
  store::Replica replica({}, "bench", storage->get(), 1);
  if (!replica.Open(1'700'000'000'000, 1).ok()) return -1;
  store::StoreOutbox out;
  const auto start = Clock::now();
  uint64_t wall = 1'700'000'000'000;
  for (int i = 0; i < writes; i += group) {
    for (int j = i; j < i + group && j < writes; ++j) {
      auto ticket = replica.Write(Instant{}, ++wall, fmt::format("k/{}", j % 10000), kValue, false,
                                  store::AckMode::kLocal, Instant{} + Seconds(60));
      if (!ticket.ok()) return -1;
    }
    if (!replica.Flush(Instant{}, &out).ok()) return -1;
    out.Clear();
  }
  return writes / std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: starling-bench-statelog DIR [writes-per-case]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int writes = argc > 2 ? std::atoi(argv[2]) : 2000;
  std::printf("| case | writes | raw RocksDB (writes/s) | state log (writes/s) | ratio |\n");
  std::printf("|---|---|---|---|---|\n");
  for (int group : {1, 100}) {
    const int n = group == 1 ? writes : writes * 20;
    // Interleave and repeat, taking the best of three: the disk is shared and noisy.
    double raw = 0, log = 0;
    for (int round = 0; round < 3; ++round) {
      raw = std::max(raw, RawRocksDb(dir + "/raw", n, group));
      log = std::max(log, Replica(dir + "/log", n, group));
    }
    std::printf("| %s | %d | %.0f | %.0f | %.2fx |\n",
                group == 1 ? "sync per write" : "group commit (100 per sync)", n, raw, log,
                log / raw);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
