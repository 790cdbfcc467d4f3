// store/rocksdb/chunk_store.h — content-addressed chunks of site images on RocksDB with BlobDB
// (large values live in blob files, not in the LSM tree), each compressed with zstd and named by
// the SHA-256 of its plain bytes. What is stored is what peers are sent: the compressed bytes.
// Every read verifies the hash, so a chunk corrupted on disk is caught, reported and replaced.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "store/images/hash.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class Slice;
}  // namespace rocksdb

namespace starling::images {

class ChunkStore {
 public:
  // Opens (creating if missing) the chunk store in `directory` (its own RocksDB: chunk writes
  // are large and idempotent, and would crowd the state log's WAL).
  static Result<std::unique_ptr<ChunkStore>> Open(const std::string& directory);
  ~ChunkStore();

  // Stores `plain` under `hash` (which the caller computed) unless present. Returns true when it
  // was new. Durable once Sync() returns (chunks skip the write-ahead log: see the .cc).
  Result<bool> Put(const Hash& hash, std::span<const uint8_t> plain);
  // Stores bytes as a peer sent them (zstd frame): decompressed and verified first.
  Status PutCompressed(const Hash& hash, std::string_view compressed);
  // The same for many chunks in one write: each is verified, those that match their name are
  // stored together. Returns one status per chunk (Corruption for bytes that do not match), or
  // IoError when the write itself failed (then nothing was stored).
  Result<std::vector<Status>> PutCompressedBatch(
      std::span<const std::pair<Hash, std::string>> chunks);
  bool Has(const Hash& hash);
  // The plain bytes, verified. A stored chunk whose hash does not match is Corruption.
  Result<std::string> Get(const Hash& hash);
  // The stored (compressed) bytes, verified.
  Result<std::string> GetCompressed(const Hash& hash);
  // The stored bytes as they are, unchecked (not even RocksDB's blob checksum, computed in
  // software by Debian's portable build): what a node sends to peers, who verify every chunk
  // against its name anyway and ask elsewhere when it does not match (and the background scrub
  // verifies everything here). Spares the sender a decompression, a hash and a CRC per chunk.
  Result<std::string> GetStored(const Hash& hash);
  Status Delete(const Hash& hash);
  // Gives the space of deleted chunks back to the file system (a compaction with blob garbage
  // collection; costs a rewrite of the live chunks that share blob files with dead ones).
  Status ReclaimSpace();
  // Every stored chunk's name (for garbage collection), in byte order.
  Result<std::vector<Hash>> List();
  // Makes every earlier Put and Delete durable (flushes the memtable to blob files).
  Status Sync();
  uint64_t SizeOnDisk();

  // For tests: overwrites the stored bytes of `hash` with `bytes` as they are.
  Status CorruptForTest(const Hash& hash, std::string_view bytes);

 private:
  ChunkStore() = default;
  // The stored bytes and their plain form, checked against `hash`.
  Result<std::pair<std::string, std::string>> ReadVerified(const Hash& hash);
  // Writes the stored bytes and the chunk's name in one batch.
  Status Write(const Hash& hash, rocksdb::Slice stored);
  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<rocksdb::ColumnFamilyHandle> names_;
  std::string directory_;
};

}  // namespace starling::images
