#include "store/rocksdb/rocksdb_storage.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <filesystem>

#include "store/codec.h"

namespace starling::store {
namespace {

std::string LogKey(const Origin& origin, uint64_t seq) {
  std::string key = origin;
  key.push_back('\0');
  for (int i = 7; i >= 0; --i) key.push_back(static_cast<char>((seq >> (8 * i)) & 0xff));
  return key;
}

uint64_t DecodeU64(std::string_view bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8 && i < bytes.size(); ++i) {
    value = (value << 8) | static_cast<uint8_t>(bytes[i]);
  }
  return value;
}

std::string EncodeU64(uint64_t value) {
  std::string out;
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  return out;
}

Status FromRocks(const rocksdb::Status& status, std::string_view what) {
  if (status.ok()) return Status::Ok();
  return Status::IoError(std::string(what) + ": " + status.ToString());
}

constexpr char kHeadPrefix[] = "head/";
constexpr char kFloorPrefix[] = "floor/";

}  // namespace

Result<std::unique_ptr<RocksDbStorage>> RocksDbStorage::Open(const std::string& directory) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) return Status::IoError("cannot create " + directory + ": " + ec.message());
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.max_background_jobs = 2;
  options.keep_log_file_num = 4;
  rocksdb::ColumnFamilyOptions family;
  family.compression = rocksdb::kZSTD;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, family},
      {"log", family},
      {"state", family},
      {"meta", family}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::Status status = rocksdb::DB::Open(options, directory, families, &handles, &db);
  if (!status.ok()) {
    return Status::IoError("cannot open the state log at " + directory + ": " + status.ToString());
  }
  std::unique_ptr<RocksDbStorage> storage(new RocksDbStorage());
  storage->db_.reset(db);
  storage->default_ = handles[0];
  storage->log_ = handles[1];
  storage->state_ = handles[2];
  storage->meta_ = handles[3];
  storage->directory_ = directory;
  return storage;
}

RocksDbStorage::~RocksDbStorage() {
  if (!db_) return;
  for (auto* handle : {default_, log_, state_, meta_}) {
    if (handle != nullptr) db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  }
  db_->Close().PermitUncheckedError();
}

Result<StoredMeta> RocksDbStorage::LoadMeta() {
  StoredMeta meta;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    const std::string_view value(it->value().data(), it->value().size());
    if (key == "origin") {
      meta.origin = value;
    } else if (key == "hlc") {
      meta.hlc = DecodeU64(value);
    } else if (key.starts_with(kHeadPrefix)) {
      meta.heads[std::string(key.substr(sizeof(kHeadPrefix) - 1))] = DecodeU64(value);
    } else if (key.starts_with(kFloorPrefix)) {
      meta.floors[std::string(key.substr(sizeof(kFloorPrefix) - 1))] = DecodeU64(value);
    }
  }
  if (Status s = FromRocks(it->status(), "reading the store's metadata"); !s.ok()) return s;
  return meta;
}

Result<std::optional<Entry>> RocksDbStorage::GetState(std::string_view key) {
  std::string value;
  rocksdb::Status status =
      db_->Get(rocksdb::ReadOptions(), state_, rocksdb::Slice(key.data(), key.size()), &value);
  if (status.IsNotFound()) return std::optional<Entry>();
  if (!status.ok()) return FromRocks(status, "reading state");
  auto entry = DecodeEntry(value);
  if (!entry.ok()) return entry.status();
  return std::optional<Entry>(std::move(entry.value()));
}

Status RocksDbStorage::ScanState(std::string_view prefix, std::string_view after,
                                 size_t max_entries, size_t max_bytes, std::vector<Entry>* out) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), state_));
  if (after.empty()) {
    it->Seek(rocksdb::Slice(prefix.data(), prefix.size()));
  } else {
    it->Seek(rocksdb::Slice(after.data(), after.size()));
    if (it->Valid() && it->key().ToStringView() == after) it->Next();
  }
  size_t bytes = 0;
  size_t taken = 0;
  for (; it->Valid() && taken < max_entries; it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (!key.starts_with(prefix)) {
      if (key > prefix) break;
      continue;
    }
    if (taken > 0 && bytes + it->value().size() > max_bytes) break;
    auto entry = DecodeEntry(it->value().ToStringView());
    if (!entry.ok()) return entry.status();
    bytes += it->value().size();
    ++taken;
    out->push_back(std::move(entry.value()));
  }
  return FromRocks(it->status(), "scanning state");
}

Status RocksDbStorage::ReadLog(const Origin& origin, uint64_t after, uint64_t upto,
                               size_t max_bytes, std::vector<Entry>* out) {
  if (after >= upto) return Status::Ok();
  const std::string start = LogKey(origin, after + 1);
  const std::string end = LogKey(origin, upto);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), log_));
  size_t bytes = 0;
  bool first = true;
  for (it->Seek(start); it->Valid(); it->Next()) {
    if (it->key().compare(end) > 0) break;
    if (!first && bytes + it->value().size() > max_bytes) break;
    auto entry = DecodeEntry(it->value().ToStringView());
    if (!entry.ok()) return entry.status();
    bytes += it->value().size();
    first = false;
    out->push_back(std::move(entry.value()));
  }
  return FromRocks(it->status(), "reading the log");
}

Status RocksDbStorage::Write(const WriteBatch& batch) {
  rocksdb::WriteBatch rocks;
  for (const Entry& entry : batch.log_puts) {
    rocks.Put(log_, LogKey(entry.origin, entry.seq), EncodeEntry(entry));
  }
  for (const auto& [origin, seq] : batch.log_deletes) rocks.Delete(log_, LogKey(origin, seq));
  for (const Entry& entry : batch.state_puts) rocks.Put(state_, entry.key, EncodeEntry(entry));
  for (const auto& [origin, seq] : batch.heads) {
    rocks.Put(meta_, kHeadPrefix + origin, EncodeU64(seq));
  }
  for (const auto& [origin, seq] : batch.floors) {
    rocks.Put(meta_, kFloorPrefix + origin, EncodeU64(seq));
  }
  if (batch.origin) rocks.Put(meta_, "origin", *batch.origin);
  if (batch.hlc != 0) rocks.Put(meta_, "hlc", EncodeU64(batch.hlc));
  rocksdb::WriteOptions options;
  options.sync = batch.sync;
  return FromRocks(db_->Write(options, &rocks), "writing the state log");
}

Status RocksDbStorage::Sync() { return FromRocks(db_->SyncWAL(), "syncing the state log"); }

uint64_t RocksDbStorage::SizeOnDisk() {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& file : std::filesystem::recursive_directory_iterator(directory_, ec)) {
    if (file.is_regular_file(ec)) total += file.file_size(ec);
  }
  return total;
}

}  // namespace starling::store
