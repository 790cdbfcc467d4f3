#include "store/rocksdb/chunk_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <zstd.h>

#include <cstring>
#include <filesystem>

namespace starling::images {
namespace {

constexpr int kZstdLevel = 1;  // fast: import speed matters more than the last few percent
constexpr size_t kMaxChunkBytes = 64u << 20;

rocksdb::Slice Key(const Hash& hash) {
  return rocksdb::Slice(reinterpret_cast<const char*>(hash.data()), hash.size());
}

Result<std::string> Decompress(std::string_view compressed) {
  const unsigned long long size = ZSTD_getFrameContentSize(compressed.data(), compressed.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > kMaxChunkBytes) {
    return Status::Corruption("not a zstd frame of a sane size");
  }
  std::string plain(size, '\0');
  const size_t n =
      ZSTD_decompress(plain.data(), plain.size(), compressed.data(), compressed.size());
  if (ZSTD_isError(n) || n != size) {
    return Status::Corruption(std::string("zstd: ") +
                              (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short"));
  }
  return plain;
}

}  // namespace

Result<std::unique_ptr<ChunkStore>> ChunkStore::Open(const std::string& directory) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) return Status::IoError("cannot create " + directory + ": " + ec.message());
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_background_jobs = 2;
  options.keep_log_file_num = 4;
  options.compression = rocksdb::kNoCompression;  // values are zstd frames already
  options.enable_blob_files = true;
  options.min_blob_size = 4096;
  options.blob_compression_type = rocksdb::kNoCompression;
  options.enable_blob_garbage_collection = true;
  rocksdb::DB* db = nullptr;
  rocksdb::Status status = rocksdb::DB::Open(options, directory, &db);
  if (!status.ok()) {
    return Status::IoError("cannot open the chunk store at " + directory + ": " +
                           status.ToString());
  }
  std::unique_ptr<ChunkStore> store(new ChunkStore());
  store->db_.reset(db);
  store->directory_ = directory;
  return store;
}

ChunkStore::~ChunkStore() {
  if (db_) db_->Close().PermitUncheckedError();
}

Result<bool> ChunkStore::Put(const Hash& hash, std::span<const uint8_t> plain, bool sync) {
  if (plain.size() > kMaxChunkBytes) return Status::InvalidArgument("chunk larger than 64 MiB");
  if (Has(hash)) return false;
  std::string compressed(ZSTD_compressBound(plain.size()), '\0');
  const size_t n =
      ZSTD_compress(compressed.data(), compressed.size(), plain.data(), plain.size(), kZstdLevel);
  if (ZSTD_isError(n)) return Status::IoError(std::string("zstd: ") + ZSTD_getErrorName(n));
  compressed.resize(n);
  rocksdb::WriteOptions options;
  options.sync = sync;
  rocksdb::Status status = db_->Put(options, Key(hash), compressed);
  if (!status.ok()) return Status::IoError("storing a chunk: " + status.ToString());
  return true;
}

Status ChunkStore::PutCompressed(const Hash& hash, std::string_view compressed, bool sync) {
  auto plain = Decompress(compressed);
  if (!plain.ok()) return plain.status();
  if (Sha256(*plain) != hash) {
    return Status::Corruption("chunk " + Hex(hash).substr(0, 16) + " does not match its hash");
  }
  rocksdb::WriteOptions options;
  options.sync = sync;
  rocksdb::Status status =
      db_->Put(options, Key(hash), rocksdb::Slice(compressed.data(), compressed.size()));
  if (!status.ok()) return Status::IoError("storing a chunk: " + status.ToString());
  return Status::Ok();
}

bool ChunkStore::Has(const Hash& hash) {
  std::string ignored;
  if (!db_->KeyMayExist(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), Key(hash), &ignored)) {
    return false;
  }
  rocksdb::PinnableSlice value;
  return db_->Get(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), Key(hash), &value).ok();
}

Result<std::pair<std::string, std::string>> ChunkStore::ReadVerified(const Hash& hash) {
  std::string compressed;
  rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), Key(hash), &compressed);
  if (status.IsNotFound()) return Status::NotFound("no chunk " + Hex(hash).substr(0, 16));
  if (!status.ok()) return Status::IoError("reading a chunk: " + status.ToString());
  auto plain = Decompress(compressed);
  if (!plain.ok() || Sha256(*plain) != hash) {
    return Status::Corruption("stored chunk " + Hex(hash).substr(0, 16) + " is corrupt");
  }
  return std::make_pair(std::move(compressed), std::move(plain.value()));
}

Result<std::string> ChunkStore::GetCompressed(const Hash& hash) {
  auto read = ReadVerified(hash);
  if (!read.ok()) return read.status();
  return std::move(read->first);
}

Result<std::string> ChunkStore::Get(const Hash& hash) {
  auto read = ReadVerified(hash);
  if (!read.ok()) return read.status();
  return std::move(read->second);
}

Status ChunkStore::Delete(const Hash& hash) {
  rocksdb::Status status = db_->Delete(rocksdb::WriteOptions(), Key(hash));
  if (!status.ok()) return Status::IoError("deleting a chunk: " + status.ToString());
  return Status::Ok();
}

Result<std::vector<Hash>> ChunkStore::List() {
  std::vector<Hash> hashes;
  rocksdb::ReadOptions options;
  options.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != 32) continue;  // not a chunk
    Hash hash;
    std::memcpy(hash.data(), it->key().data(), 32);
    hashes.push_back(hash);
  }
  if (!it->status().ok()) return Status::IoError("listing chunks: " + it->status().ToString());
  return hashes;
}

Status ChunkStore::Sync() {
  rocksdb::Status status = db_->FlushWAL(/*sync=*/true);
  if (!status.ok()) return Status::IoError("syncing the chunk store: " + status.ToString());
  return Status::Ok();
}

uint64_t ChunkStore::SizeOnDisk() {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& file : std::filesystem::recursive_directory_iterator(directory_, ec)) {
    if (file.is_regular_file(ec)) total += file.file_size(ec);
  }
  return total;
}

Status ChunkStore::CorruptForTest(const Hash& hash, std::string_view bytes) {
  rocksdb::Status status =
      db_->Put(rocksdb::WriteOptions(), Key(hash), rocksdb::Slice(bytes.data(), bytes.size()));
  return status.ok() ? Status::Ok() : Status::IoError(status.ToString());
}

}  // namespace starling::images
