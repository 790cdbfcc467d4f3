// store/storage.h — where a replica keeps its log and state. The replica core calls it
// synchronously; the RocksDB one (store/rocksdb) is the real one, MemoryStorage the simulator's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "store/entry.h"

namespace starling::store {

// What a store remembers about itself between lives.
struct StoredMeta {
  Origin origin;  // empty: a new store
  Hlc hlc = 0;    // clock high-water mark
  Digest heads;   // highest contiguous sequence held, per origin
  Digest floors;  // compacted up to here, per origin: ranges at or below are not served
};

// One atomic write: log appends, state winners, compaction deletes and metadata together.
struct WriteBatch {
  std::vector<Entry> log_puts;
  std::vector<std::pair<Origin, uint64_t>> log_deletes;
  std::vector<Entry> state_puts;  // the new winner of each key
  Digest heads;                   // changed heads only
  Digest floors;                  // changed floors only
  std::optional<Origin> origin;   // set once, when the store is made
  Hlc hlc = 0;                    // 0: unchanged
  bool sync = true;               // durable (fsync'd WAL) before Write returns

  bool empty() const {
    return log_puts.empty() && log_deletes.empty() && state_puts.empty() && heads.empty() &&
           floors.empty() && !origin && hlc == 0;
  }
};

class Storage {
 public:
  virtual ~Storage() = default;

  virtual Result<StoredMeta> LoadMeta() = 0;
  // The current winner for `key` (tombstones included), or nullopt.
  virtual Result<std::optional<Entry>> GetState(std::string_view key) = 0;
  // Winners with keys starting with `prefix` and greater than `after`, in key order, until
  // `max_entries` or `max_bytes` (at least one entry) is reached.
  virtual Status ScanState(std::string_view prefix, std::string_view after, size_t max_entries,
                           size_t max_bytes, std::vector<Entry>* out) = 0;
  // Log entries of `origin` with after < seq <= upto, in order, within `max_bytes` (at least one).
  virtual Status ReadLog(const Origin& origin, uint64_t after, uint64_t upto, size_t max_bytes,
                         std::vector<Entry>* out) = 0;
  virtual Status Write(const WriteBatch& batch) = 0;
  // Makes every earlier write durable.
  virtual Status Sync() = 0;
  // Bytes the store takes on disk (approximate).
  virtual uint64_t SizeOnDisk() = 0;
};

}  // namespace starling::store
