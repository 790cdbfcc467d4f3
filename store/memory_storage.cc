#include "store/memory_storage.h"

namespace starling::store {

void MemoryStorage::Image::Apply(const WriteBatch& batch) {
  for (const Entry& entry : batch.log_puts) log[{entry.origin, entry.seq}] = entry;
  for (const auto& key : batch.log_deletes) log.erase(key);
  for (const Entry& entry : batch.state_puts) state[entry.key] = entry;
  for (const auto& [origin, seq] : batch.heads) meta.heads[origin] = seq;
  for (const auto& [origin, seq] : batch.floors) meta.floors[origin] = seq;
  if (batch.origin) meta.origin = *batch.origin;
  if (batch.hlc != 0) meta.hlc = batch.hlc;
}

Result<StoredMeta> MemoryStorage::LoadMeta() { return current_.meta; }

Result<std::optional<Entry>> MemoryStorage::GetState(std::string_view key) {
  auto it = current_.state.find(key);
  if (it == current_.state.end()) return std::optional<Entry>();
  return std::optional<Entry>(it->second);
}

Status MemoryStorage::ScanState(std::string_view prefix, std::string_view after, size_t max_entries,
                                size_t max_bytes, std::vector<Entry>* out) {
  size_t bytes = 0;
  auto it = after.empty() ? current_.state.lower_bound(prefix) : current_.state.upper_bound(after);
  for (; it != current_.state.end() && out->size() < max_entries; ++it) {
    if (!it->first.starts_with(prefix)) {
      if (it->first > prefix) break;
      continue;
    }
    if (!out->empty() && bytes + it->second.value.size() > max_bytes) break;
    bytes += it->second.key.size() + it->second.value.size();
    out->push_back(it->second);
  }
  return Status::Ok();
}

Status MemoryStorage::ReadLog(const Origin& origin, uint64_t after, uint64_t upto, size_t max_bytes,
                              std::vector<Entry>* out) {
  size_t bytes = 0;
  for (auto it = current_.log.upper_bound({origin, after});
       it != current_.log.end() && it->first.first == origin && it->first.second <= upto; ++it) {
    const size_t size = it->second.key.size() + it->second.value.size() + 32;
    if (bytes > 0 && bytes + size > max_bytes) break;
    bytes += size;
    out->push_back(it->second);
  }
  return Status::Ok();
}

Status MemoryStorage::Write(const WriteBatch& batch) {
  current_.Apply(batch);
  for (const Entry& entry : batch.log_puts) bytes_ += entry.key.size() + entry.value.size() + 32;
  unsynced_.push_back(batch);
  if (batch.sync) return Sync();
  return Status::Ok();
}

Status MemoryStorage::Sync() {
  for (const WriteBatch& batch : unsynced_) durable_.Apply(batch);
  unsynced_.clear();
  return Status::Ok();
}

void MemoryStorage::Crash() {
  current_ = durable_;
  unsynced_.clear();
}

}  // namespace starling::store
