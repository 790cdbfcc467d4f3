// store/rocksdb/rocksdb_storage.h — the state log on RocksDB: column families "log" (per-origin
// entries, keyed origin \0 big-endian seq), "state" (each key's winner) and "meta" (origin, clock,
// heads, floors). One Write() is one RocksDB WriteBatch through the WAL; `sync` fsyncs it.
#pragma once

#include <memory>
#include <string>

#include "store/storage.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace starling::store {

class RocksDbStorage final : public Storage {
 public:
  // Opens (creating if missing) the store in `directory`.
  static Result<std::unique_ptr<RocksDbStorage>> Open(const std::string& directory);
  ~RocksDbStorage() override;

  Result<StoredMeta> LoadMeta() override;
  Result<std::optional<Entry>> GetState(std::string_view key) override;
  Status ScanState(std::string_view prefix, std::string_view after, size_t max_entries,
                   size_t max_bytes, std::vector<Entry>* out) override;
  Status ReadLog(const Origin& origin, uint64_t after, uint64_t upto, size_t max_bytes,
                 std::vector<Entry>* out) override;
  Status Write(const WriteBatch& batch) override;
  Status Sync() override;
  uint64_t SizeOnDisk() override;

 private:
  RocksDbStorage() = default;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* default_ = nullptr;
  rocksdb::ColumnFamilyHandle* log_ = nullptr;
  rocksdb::ColumnFamilyHandle* state_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  std::string directory_;
};

}  // namespace starling::store
