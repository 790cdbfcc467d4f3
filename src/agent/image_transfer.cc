// Chunks between nodes: the pure puller decides whom to ask for what; replies are verified and
// stored off the io thread; a node serves its own chunks to peers, a bounded number at once.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "src/agent/images.h"
#include "store/images/transfer.h"

namespace starling::agent {
namespace {

using images::Hash;

constexpr int kMaxServes = 4;                 // chunk replies being read at once
constexpr size_t kMaxServeBytes = 16u << 20;  // stored bytes per reply

}  // namespace

void ImageService::SetMembers(std::vector<std::string> alive, std::vector<std::string> runners) {
  std::sort(alive.begin(), alive.end());
  members_ = alive;
  runners_ = std::move(runners);
  std::erase(alive, config_.node_name);
  std::vector<images::PullRequest> out;
  puller_.SetPeers(time_.Now(), std::move(alive), &out);
  DrainPulls(&out);
}

void ImageService::DrainPulls(std::vector<images::PullRequest>* out) {
  for (auto& request : *out) asio::co_spawn(io_, RunPull(std::move(request)), asio::detached);
  out->clear();
  ArmTimer();
}

void ImageService::ArmTimer() {
  timer_.Arm(puller_.NextWake(), [this] {
    std::vector<images::PullRequest> out;
    puller_.Tick(time_.Now(), &out);
    DrainPulls(&out);
  });
}

asio::awaitable<void> ImageService::RunPull(images::PullRequest request) {
  auto alive = alive_;
  auto exchange = hooks_.exchange(request.peer, images::EncodeChunkRequest(request.hashes));
  Result<Frame> reply = co_await std::move(exchange);
  if (!*alive) co_return;
  std::vector<images::PullRequest> out;
  if (!reply.ok()) {
    puller_.OnFailed(time_.Now(), request.id, &out);
    DrainPulls(&out);
    co_return;
  }
  struct Stored {
    Status decoded = Status::Ok();
    bool busy = false;
    std::vector<Hash> ok;
    uint64_t bytes = 0;
    std::vector<Hash> rejected;  // bytes that did not match their name
    std::vector<Hash> lacking;   // the peer said it has none of these
  };
  // Decoding megabytes and verifying every chunk: on the pool, not on the io thread.
  auto frame = std::make_shared<Frame>(std::move(reply.value()));
  auto asked = std::make_shared<std::unordered_set<Hash, images::HashOfHash>>(
      request.hashes.begin(), request.hashes.end());
  auto task1 = OffThread([this, frame, asked] {
    Stored result;
    auto decoded = images::DecodeChunkReply(frame->payload());
    if (!decoded.ok() || decoded->busy) {
      result.decoded = decoded.status();
      result.busy = decoded.ok();
      return result;
    }
    auto answer = std::make_shared<images::ChunkReply>(std::move(decoded.value()));
    result.lacking = std::move(answer->lacking);
    std::erase_if(answer->chunks, [&](const auto& chunk) { return !asked->contains(chunk.first); });
    auto statuses = chunks_->PutCompressedBatch(answer->chunks);
    for (size_t i = 0; i < answer->chunks.size(); ++i) {
      const auto& [hash, zstd] = answer->chunks[i];
      const Status& s = statuses.ok() ? (*statuses)[i] : statuses.status();
      if (!s.ok()) {
        result.rejected.push_back(hash);
        spdlog::warn("chunk {} from a peer rejected: {}", images::Hex(hash), s.message());
        continue;
      }
      result.ok.push_back(hash);
      result.bytes += zstd.size();
    }
    return result;
  });
  Stored stored = co_await std::move(task1);
  if (!*alive) co_return;
  if (!stored.decoded.ok() || stored.busy) {
    if (!stored.decoded.ok()) {
      spdlog::warn("undecodable chunk reply from {}: {}", request.peer, stored.decoded.message());
    }
    puller_.OnFailed(time_.Now(), request.id, &out);
    DrainPulls(&out);
    co_return;
  }
  stats_.chunks_fetched += stored.ok.size();
  stats_.bytes_fetched += stored.bytes;
  stats_.chunks_rejected += stored.rejected.size();
  // A chunk that failed verification is treated as one the peer lacks: asked elsewhere first.
  std::vector<Hash> lacking = std::move(stored.lacking);
  lacking.insert(lacking.end(), stored.rejected.begin(), stored.rejected.end());
  puller_.OnReply(time_.Now(), request.id, stored.ok, lacking, &out);
  OnChunksStored(stored.ok);
  DrainPulls(&out);
}

asio::awaitable<std::string> ImageService::Serve(std::string request) {
  auto hashes = images::DecodeChunkRequest(request);
  if (!hashes.ok()) {
    spdlog::debug("undecodable chunk request: {}", hashes.status().message());
    co_return std::string();
  }
  if (serving_ >= kMaxServes) {
    ++stats_.busy_answers;
    co_return images::EncodeChunkReply({.busy = true});
  }
  ++serving_;
  auto alive = alive_;
  struct Served {
    std::string encoded;  // the reply, encoded on the pool
    size_t chunks = 0;
    std::vector<Hash> corrupt;
    uint64_t bytes = 0;
  };
  auto wanted = std::make_shared<std::vector<Hash>>(std::move(hashes.value()));
  auto task2 = OffThread([this, wanted] {
    Served result;
    images::ChunkReply reply;
    for (const Hash& hash : *wanted) {
      if (result.bytes >= kMaxServeBytes) break;  // unanswered: asked again later
      auto bytes = chunks_->GetStored(hash);      // the puller verifies; so does the scrub here
      if (bytes.ok()) {
        result.bytes += bytes->size();
        reply.chunks.emplace_back(hash, std::move(bytes.value()));
        continue;
      }
      reply.lacking.push_back(hash);
      if (bytes.status().code() == StatusCode::kCorruption) {
        spdlog::error("stored chunk {} is corrupt: deleted, to be fetched again",
                      images::Hex(hash));
        chunks_->Delete(hash).IgnoreError();
        result.corrupt.push_back(hash);
      }
    }
    result.chunks = reply.chunks.size();
    result.encoded = images::EncodeChunkReply(reply);
    return result;
  });
  Served served = co_await std::move(task2);
  if (!*alive) co_return std::string();
  --serving_;
  stats_.chunks_served += served.chunks;
  stats_.bytes_served += served.bytes;
  if (!served.corrupt.empty()) OnCorrupt(served.corrupt);
  co_return std::move(served.encoded);
}

}  // namespace starling::agent
