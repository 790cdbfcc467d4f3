// src/images/chunk_writer.h — the importers' shared engine (importer.cc, archive_import.cc):
// chunks cut and named on the reading thread, compressed and stored on worker threads.
#pragma once

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <span>
#include <thread>
#include <unordered_set>
#include <vector>

#include "base/status.h"
#include "src/images/importer.h"
#include "store/images/chunker.h"
#include "store/images/manifest.h"
#include "store/images/puller.h"  // HashOfHash
#include "store/rocksdb/chunk_store.h"

namespace starling::images {

// The plain bytes a file's chunk list adds up to.
uint64_t TotalOf(const FileEntry& file);

inline constexpr int kImportWriterThreads = 2;  // compress and store beside the reading thread

// Compresses and stores chunks on worker threads while the caller reads, cuts and names the
// next ones: import uses both cores. The queue is bounded in bytes, so memory stays bounded.
// Each distinct chunk is queued once per import (the caller names chunks, so duplicates are
// known at once). Add and Finish are called from one thread.

class ChunkWriter {
 public:
  // Starts `threads` workers storing into `store`, which must outlive the writer.
  ChunkWriter(ChunkStore* store, int threads);
  // Stops the workers (queued chunks are still stored first; call Finish to see the outcome).
  ~ChunkWriter();

  // Queues `chunk` (copied) to be stored under `hash`, unless this import queued it already.
  // Blocks while the queue holds kMaxQueuedBytes. Returns a worker's earlier error, if any.
  Status Add(const Hash& hash, std::span<const uint8_t> chunk);

  ChunkStore* store() const { return store_; }

  // Waits for every queued chunk; adds what was new to `stats`.
  Status Finish(ImportStats* stats);

 private:
  static constexpr size_t kMaxQueuedBytes = 32u << 20;
  struct Job {
    Hash hash;
    std::vector<uint8_t> bytes;
  };

  void Work();

  ChunkStore* store_;
  std::mutex mutex_;
  std::condition_variable ready_, room_, idle_;
  std::deque<Job> queue_;
  std::unordered_set<Hash, HashOfHash> queued_hashes_;
  size_t queued_bytes_ = 0;
  int busy_ = 0;
  bool closing_ = false;
  Status error_ = Status::Ok();
  uint64_t new_chunks_ = 0;
  uint64_t new_chunk_bytes_ = 0;
  std::vector<std::thread> workers_;
};

// Reads a file's bytes with `read` (0 = end) through `buffer`, cuts them into chunks, names them,
// hands them to `writer` and lists them in `file`. Memory: the buffer, whatever the file's size.
// Each byte is moved within the buffer at most once.
template <typename Read>
Status ChunkStream(Read& read, const Chunker& chunker, ChunkWriter* writer,
                   std::vector<uint8_t>* buffer, FileEntry* file, ImportStats* stats) {
  const size_t max = chunker.options().max_bytes;
  if (buffer->size() < 2 * max) buffer->resize(2 * max);
  size_t begin = 0, end = 0;
  bool eof = false;
  for (;;) {
    if (!eof && end - begin < max) {
      // Slide what is left to the front, then fill the rest.
      std::memmove(buffer->data(), buffer->data() + begin, end - begin);
      end -= begin;
      begin = 0;
      while (!eof && end < buffer->size()) {
        auto n = read(buffer->data() + end, buffer->size() - end);
        if (!n.ok()) return n.status();
        if (*n == 0) eof = true;
        end += *n;
      }
    }
    if (begin == end) break;
    const auto data = std::span<const uint8_t>(buffer->data() + begin, end - begin);
    const size_t cut = chunker.NextCut(data);
    const auto chunk = data.subspan(0, cut);
    const Hash hash = Sha256(chunk);
    if (Status s = writer->Add(hash, chunk); !s.ok()) return s;
    ++stats->chunks;
    stats->bytes_read += cut;
    file->chunks.push_back(ChunkRef{hash, static_cast<uint32_t>(cut)});
    begin += cut;
  }
  return Status::Ok();
}

}  // namespace starling::images
