#include "store/rocksdb/chunk_store.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <zstd.h>

#include <cstring>
#include <filesystem>

namespace starling::images {
namespace {

constexpr int kZstdLevel = 1;  // fast: import speed matters more than the last few percent
constexpr size_t kMaxChunkBytes = 64u << 20;

// Chunks skip the write-ahead log: each is named by its hash, so one lost to a crash simply reads
// as absent and is fetched or imported again, and writing every byte twice (log, then blob file)
// halved import speed. Sync() flushes the memtable, which makes everything before it durable.
rocksdb::WriteOptions WriteOptions() {
  rocksdb::WriteOptions options;
  options.disableWAL = true;
  return options;
}

rocksdb::Slice Key(const Hash& hash) {
  return rocksdb::Slice(reinterpret_cast<const char*>(hash.data()), hash.size());
}

// zstd contexts are large to set up: one per thread, reused for every chunk.
struct ZstdContexts {
  ZSTD_CCtx* compress = ZSTD_createCCtx();
  ZSTD_DCtx* decompress = ZSTD_createDCtx();
  ~ZstdContexts() {
    ZSTD_freeCCtx(compress);
    ZSTD_freeDCtx(decompress);
  }
};

ZstdContexts& Contexts() {
  thread_local ZstdContexts contexts;
  return contexts;
}

// The size a zstd frame says it decompresses to, if sane.
Result<size_t> FrameSize(std::string_view compressed) {
  const unsigned long long size = ZSTD_getFrameContentSize(compressed.data(), compressed.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > kMaxChunkBytes) {
    return Status::Corruption("not a zstd frame of a sane size");
  }
  return static_cast<size_t>(size);
}

Status DecompressInto(std::string_view compressed, char* out, size_t size) {
  const size_t n =
      ZSTD_decompressDCtx(Contexts().decompress, out, size, compressed.data(), compressed.size());
  if (ZSTD_isError(n) || n != size) {
    return Status::Corruption(std::string("zstd: ") +
                              (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short"));
  }
  return Status::Ok();
}

Result<std::string> Decompress(std::string_view compressed) {
  auto size = FrameSize(compressed);
  if (!size.ok()) return size.status();
  std::string plain(*size, '\0');
  if (Status s = DecompressInto(compressed, plain.data(), plain.size()); !s.ok()) return s;
  return plain;
}

// Whether a zstd frame decompresses to bytes named `hash`. Decompresses into a buffer kept per
// thread (a fresh buffer per chunk costs a zero fill and page faults for every pulled byte).
Status VerifyCompressed(const Hash& hash, std::string_view compressed) {
  thread_local std::unique_ptr<char[]> scratch;
  thread_local size_t scratch_size = 0;
  auto size = FrameSize(compressed);
  if (!size.ok()) return size.status();
  if (*size > scratch_size) {
    scratch_size = std::max<size_t>(*size, 1u << 20);
    scratch = std::make_unique_for_overwrite<char[]>(scratch_size);
  }
  if (Status s = DecompressInto(compressed, scratch.get(), *size); !s.ok()) return s;
  if (Sha256(std::string_view(scratch.get(), *size)) != hash) {
    return Status::Corruption("chunk " + Hex(hash).substr(0, 16) + " does not match its hash");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<ChunkStore>> ChunkStore::Open(const std::string& directory) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) return Status::IoError("cannot create " + directory + ": " + ec.message());
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_background_jobs = 2;
  // Compactions of megabytes of chunks are background work: at a low CPU priority, so the
  // agent's io thread gets a core first when it wakes (the pool is shared by every RocksDB of
  // the process; the state log's compactions are small).
  options.env->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::LOW, rocksdb::CpuPriority::kLow)
      .PermitUncheckedError();
  options.keep_log_file_num = 4;
  options.compression = rocksdb::kNoCompression;  // values are zstd frames already
  options.enable_blob_files = true;
  options.min_blob_size = 4096;
  options.blob_compression_type = rocksdb::kNoCompression;
  // Blob garbage collection relocates live blobs during compactions: during an import that
  // rewrote chunks again and again (14 % of import CPU). It runs only in CollectGarbage().
  options.enable_blob_garbage_collection = false;
  // Has() is asked for every chunk of an import: bloom filters answer "absent" without reads,
  // in the SST files and in the memtable alike.
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  options.memtable_whole_key_filtering = true;
  options.memtable_prefix_bloom_size_ratio = 0.05;
  options.create_missing_column_families = true;
  // "names": one small entry per chunk, no blob. Has() and List() read only these: asking the
  // default family would fetch (and checksum) the blob itself.
  rocksdb::ColumnFamilyOptions names(options);
  names.enable_blob_files = false;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions(options)}, {"names", names}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::Status status = rocksdb::DB::Open(options, directory, families, &handles, &db);
  if (!status.ok()) {
    return Status::IoError("cannot open the chunk store at " + directory + ": " +
                           status.ToString());
  }
  std::unique_ptr<ChunkStore> store(new ChunkStore());
  store->db_.reset(db);
  store->names_.reset(handles[1]);
  delete handles[0];  // the default family's handle: db_->DefaultColumnFamily() serves
  store->directory_ = directory;
  return store;
}

ChunkStore::~ChunkStore() {
  names_.reset();
  if (db_) db_->Close().PermitUncheckedError();
}

Status ChunkStore::Write(const Hash& hash, rocksdb::Slice stored) {
  rocksdb::WriteBatch batch;
  batch.Put(Key(hash), stored);
  batch.Put(names_.get(), Key(hash), rocksdb::Slice());
  rocksdb::Status status = db_->Write(WriteOptions(), &batch);
  if (!status.ok()) return Status::IoError("storing a chunk: " + status.ToString());
  return Status::Ok();
}

Result<bool> ChunkStore::Put(const Hash& hash, std::span<const uint8_t> plain) {
  if (plain.size() > kMaxChunkBytes) return Status::InvalidArgument("chunk larger than 64 MiB");
  if (Has(hash)) return false;
  std::string compressed(ZSTD_compressBound(plain.size()), '\0');
  const size_t n = ZSTD_compressCCtx(Contexts().compress, compressed.data(), compressed.size(),
                                     plain.data(), plain.size(), kZstdLevel);
  if (ZSTD_isError(n)) return Status::IoError(std::string("zstd: ") + ZSTD_getErrorName(n));
  compressed.resize(n);
  if (Status s = Write(hash, compressed); !s.ok()) return s;
  return true;
}

Status ChunkStore::PutCompressed(const Hash& hash, std::string_view compressed) {
  if (Status s = VerifyCompressed(hash, compressed); !s.ok()) return s;
  return Write(hash, rocksdb::Slice(compressed.data(), compressed.size()));
}

Result<std::vector<Status>> ChunkStore::PutCompressedBatch(
    std::span<const std::pair<Hash, std::string>> chunks) {
  std::vector<Status> results;
  results.reserve(chunks.size());
  rocksdb::WriteBatch batch;
  for (const auto& [hash, compressed] : chunks) {
    results.push_back(VerifyCompressed(hash, compressed));
    if (!results.back().ok()) continue;
    batch.Put(Key(hash), compressed);
    batch.Put(names_.get(), Key(hash), rocksdb::Slice());
  }
  if (batch.Count() == 0) return results;
  rocksdb::Status status = db_->Write(WriteOptions(), &batch);
  if (!status.ok()) return Status::IoError("storing chunks: " + status.ToString());
  return results;
}

bool ChunkStore::Has(const Hash& hash) {
  std::string ignored;
  if (!db_->KeyMayExist(rocksdb::ReadOptions(), names_.get(), Key(hash), &ignored)) {
    return false;
  }
  rocksdb::PinnableSlice value;
  return db_->Get(rocksdb::ReadOptions(), names_.get(), Key(hash), &value).ok();
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

Result<std::string> ChunkStore::GetStored(const Hash& hash) {
  std::string stored;
  rocksdb::ReadOptions options;
  options.verify_checksums = false;  // the receiver verifies the chunk's SHA-256 (see the .h)
  rocksdb::Status status = db_->Get(options, Key(hash), &stored);
  if (status.IsNotFound()) return Status::NotFound("no chunk " + Hex(hash).substr(0, 16));
  if (status.IsCorruption()) {
    return Status::Corruption("chunk " + Hex(hash).substr(0, 16) + ": " + status.ToString());
  }
  if (!status.ok()) return Status::IoError("reading a chunk: " + status.ToString());
  return stored;
}

Result<std::string> ChunkStore::Get(const Hash& hash) {
  auto read = ReadVerified(hash);
  if (!read.ok()) return read.status();
  return std::move(read->second);
}

Status ChunkStore::Delete(const Hash& hash) {
  rocksdb::WriteBatch batch;
  batch.Delete(Key(hash));
  batch.Delete(names_.get(), Key(hash));
  rocksdb::Status status = db_->Write(WriteOptions(), &batch);
  if (!status.ok()) return Status::IoError("deleting a chunk: " + status.ToString());
  return Status::Ok();
}

Result<std::vector<Hash>> ChunkStore::List() {
  std::vector<Hash> hashes;
  rocksdb::ReadOptions options;
  options.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, names_.get()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != 32) continue;  // not a chunk
    Hash hash;
    std::memcpy(hash.data(), it->key().data(), 32);
    hashes.push_back(hash);
  }
  if (!it->status().ok()) return Status::IoError("listing chunks: " + it->status().ToString());
  return hashes;
}

Status ChunkStore::ReclaimSpace() {
  // Blob garbage collection only for this compaction: it rewrites the live chunks of old blob
  // files, and blob files left with nothing live are deleted.
  rocksdb::Status status = db_->SetOptions(
      {{"enable_blob_garbage_collection", "true"}, {"blob_garbage_collection_age_cutoff", "1.0"}});
  if (status.ok()) {
    rocksdb::CompactRangeOptions options;
    options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    status = db_->CompactRange(options, nullptr, nullptr);
  }
  rocksdb::Status reset = db_->SetOptions({{"enable_blob_garbage_collection", "false"}});
  if (!status.ok()) return Status::IoError("reclaiming chunk space: " + status.ToString());
  if (!reset.ok()) return Status::IoError("reclaiming chunk space: " + reset.ToString());
  return Status::Ok();
}

Status ChunkStore::Sync() {
  rocksdb::Status status = db_->Flush(rocksdb::FlushOptions());
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
      db_->Put(WriteOptions(), Key(hash), rocksdb::Slice(bytes.data(), bytes.size()));
  return status.ok() ? Status::Ok() : Status::IoError(status.ToString());
}

}  // namespace starling::images
