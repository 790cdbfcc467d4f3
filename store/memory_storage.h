// store/memory_storage.h — Storage in memory, for the simulator and tests. It keeps what a disk
// would: writes not yet synced are lost by Crash(), as a power cut loses an unsynced WAL tail.
#pragma once

#include <map>
#include <utility>

#include "store/storage.h"

namespace starling::store {

class MemoryStorage final : public Storage {
 public:
  Result<StoredMeta> LoadMeta() override;
  Result<std::optional<Entry>> GetState(std::string_view key) override;
  Status ScanState(std::string_view prefix, std::string_view after, size_t max_entries,
                   size_t max_bytes, std::vector<Entry>* out) override;
  Status ReadLog(const Origin& origin, uint64_t after, uint64_t upto, size_t max_bytes,
                 std::vector<Entry>* out) override;
  Status Write(const WriteBatch& batch) override;
  Status Sync() override;
  uint64_t SizeOnDisk() override { return bytes_; }

  // Forgets every write since the last sync.
  void Crash();
  size_t log_size() const { return current_.log.size(); }
  size_t unsynced_batches() const { return unsynced_.size(); }

 private:
  struct Image {
    StoredMeta meta;
    std::map<std::pair<Origin, uint64_t>, Entry> log;
    std::map<std::string, Entry, std::less<>> state;
    void Apply(const WriteBatch& batch);
  };
  Image current_;
  Image durable_;
  std::vector<WriteBatch> unsynced_;
  uint64_t bytes_ = 0;
};

}  // namespace starling::store
