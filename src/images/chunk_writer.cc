#include "src/images/chunk_writer.h"

namespace starling::images {

uint64_t TotalOf(const FileEntry& file) {
  uint64_t total = 0;
  for (const ChunkRef& chunk : file.chunks) total += chunk.size;
  return total;
}

ChunkWriter::ChunkWriter(ChunkStore* store, int threads) : store_(store) {
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
}

ChunkWriter::~ChunkWriter() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

Status ChunkWriter::Add(const Hash& hash, std::span<const uint8_t> chunk) {
  std::unique_lock lock(mutex_);
  if (!error_.ok()) return error_;
  if (!queued_hashes_.insert(hash).second) return Status::Ok();
  room_.wait(lock, [&] { return queued_bytes_ < kMaxQueuedBytes || !error_.ok(); });
  queued_bytes_ += chunk.size();
  queue_.push_back(Job{hash, std::vector<uint8_t>(chunk.begin(), chunk.end())});
  lock.unlock();
  ready_.notify_one();
  return Status::Ok();
}

Status ChunkWriter::Finish(ImportStats* stats) {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return (queue_.empty() && busy_ == 0) || !error_.ok(); });
  stats->new_chunks += new_chunks_;
  stats->new_chunk_bytes += new_chunk_bytes_;
  return error_;
}

void ChunkWriter::Work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    ready_.wait(lock, [&] { return closing_ || !queue_.empty(); });
    if (queue_.empty()) return;  // closing
    Job job = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    lock.unlock();
    auto added = store_->Put(job.hash, job.bytes);
    lock.lock();
    --busy_;
    queued_bytes_ -= job.bytes.size();
    if (!added.ok() && error_.ok()) error_ = added.status();
    if (added.ok() && *added) {
      ++new_chunks_;
      new_chunk_bytes_ += job.bytes.size();
    }
    room_.notify_all();
    if (queue_.empty() && busy_ == 0) idle_.notify_all();
  }
}

}  // namespace starling::images
