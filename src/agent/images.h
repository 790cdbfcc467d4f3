// src/agent/images.h — site images on a node (DESIGN.md §6): learns versions from the state log,
// pulls the chunks it lacks from several peers at once (the pure `images::Puller` decides whom to
// ask), verifies and stores them, materializes complete versions, serves its chunks to peers,
// re-verifies stored chunks in the background, and collects chunks no kept version references.
//
// Threading: every method runs on the agent's io thread unless it says otherwise. Disk and CPU
// work (reading, verifying and syncing chunks, materializing) runs on a small worker pool and
// reports back to the io thread.
//
// Files: images.cc (versions and their phases), image_transfer.cc (pulling and serving chunks),
// image_upkeep.cc (scrub, garbage collection, imports), image_json.cc (what the API shows).
#pragma once

#include <asio.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "src/agent/background.h"
#include "src/agent/config.h"
#include "src/agent/log_driver.h"
#include "src/agent/transport.h"
#include "src/agent/wake_timer.h"
#include "src/images/registry.h"
#include "store/images/puller.h"
#include "store/rocksdb/chunk_store.h"

namespace starling::agent {

class ImageService {
 public:
  struct Hooks {
    // Sends a chunk request to a peer; its reply, or why there is none.
    std::function<asio::awaitable<Result<Frame>>(std::string peer, std::string payload)> exchange;
  };

  // Its own progress goes into the state log through `log` (acknowledged locally).
  ImageService(asio::io_context& io, CoreTime time, const AgentConfig& config,
               std::unique_ptr<images::ChunkStore> chunks, LogDriver* log, Hooks hooks);
  ~ImageService();

  // Live members' names, this node included, and those of them that run copies (they write
  // versions out; a push waits until they have).
  void SetMembers(std::vector<std::string> alive, std::vector<std::string> runners);
  // Re-reads the image records from the state log: pulls new versions, drops removed ones.
  void Refresh();
  // Answers a peer's chunk request (the 'C' frame's payload).
  asio::awaitable<std::string> Serve(std::string request);
  // Starts a pass of background verification over every stored chunk of held versions.
  void Scrub();

  nlohmann::json ListJson(const std::string& site);
  nlohmann::json StatusJson(const std::string& site);
  // The chunks of a version this node still lacks (hex), at most `limit` of them.
  Result<nlohmann::json> MissingJson(const std::string& site, const std::string& version,
                                     size_t limit);
  std::string Metrics() const;

  // Any thread. Imports from a path on this node and returns the record to write; while an
  // import runs, garbage collection waits (its chunks are referenced by nothing yet).
  Result<std::pair<images::ImageRecord, nlohmann::json>> Import(
      const std::string& site, const std::string& path, std::vector<std::string> command,
      std::vector<std::pair<std::string, std::string>> env, bool allow_setuid,
      const std::optional<images::ImageRecord>& previous, uint64_t site_quota_bytes = 0,
      const images::Layering& layering = {});
  // Any thread: brackets an import and the write of its record (garbage collection waits).
  void BeginImport();
  void EndImport();
  images::ChunkStore* chunks() { return chunks_.get(); }
  // A site's versions (every site's with an empty name), newest push first.
  std::vector<images::ImageRecord> Records(const std::string& site);
  std::optional<images::ImageRecord> Latest(const std::string& site);
  // The record keys of `site`'s versions beyond the newest `keep_versions` once `newest` is
  // written: the pusher removes them (tombstones), every node then drops their chunks.
  std::vector<std::string> Expired(const std::string& site, const images::ImageRecord& newest);

  // The versions this node's copies may start (each site's release in force, and what a stopped
  // rollout falls back to). Only these and the pinned ones are written out (ImageDir); the trees
  // of others are removed (their chunks stay). A node that runs no copies never calls it, and
  // writes out nothing.
  void SetWanted(std::set<std::pair<std::string, std::string>> wanted);
  // A version a copy is about to need: written out as soon as it is held.
  void Want(const std::string& site, const std::string& version);
  // The record of one version, if the log keeps it.
  std::optional<images::ImageRecord> Record(const std::string& site, const std::string& version);
  // Versions a running copy uses: never collected, never unwritten.
  void Pin(const std::string& site, const std::string& version);
  void Unpin(const std::string& site, const std::string& version);
  std::string ImageDir(const std::string& site, const std::string& version) const;
  // Whether this node has written the version out (ImageDir) and may start copies of it: with
  // the stack's version it stands on, if it stands on one.
  bool Materialized(const std::string& site, const std::string& version) const;
  // A copy's read-only layers, top first: the version's tree, then its stack's (if any).
  std::vector<std::string> LayerDirs(const std::string& site, const std::string& version) const;

 private:
  enum class Phase { kManifest, kLoading, kContent, kHeld };
  struct Version {
    images::ImageRecord record;
    Phase phase = Phase::kManifest;
    std::shared_ptr<const images::Manifest> manifest;
    std::vector<images::ChunkRef> content;  // distinct content chunks, once the manifest is in
    std::unordered_set<images::Hash, images::HashOfHash> missing;
    bool materialized = false;
    bool materializing = false;  // being written out, or its tree removed
    bool synced = false;         // its chunks are synced to disk (once held)
    bool checking = false;       // a background check of which chunks are present runs
    std::string error;           // why the version is stuck, if it is
    Instant last_progress_written{};
  };

  asio::awaitable<void> RunPull(images::PullRequest request);
  void DrainPulls(std::vector<images::PullRequest>* out);
  void ArmTimer();
  void StartVersion(const std::string& key, Version* version);
  void CheckPresent(const std::string& key, std::vector<images::ChunkRef> chunks);
  void WantInSteps(const std::string& key, std::shared_ptr<std::vector<images::ChunkRef>> chunks,
                   size_t from);
  void OnChunksStored(const std::vector<images::Hash>& stored);
  void OnCorrupt(const std::vector<images::Hash>& hashes);
  void Advance(const std::string& key);
  void WriteProgress(Version* version, bool force);
  // Writes out the held versions that are wanted or pinned, and removes the others' trees.
  void UpdateTrees();
  void WriteTree(const std::string& key);
  void RemoveTree(const std::string& key);
  void CollectGarbage();
  // The version and, when it stands on a stack, the stack's version: what it needs on this node.
  std::vector<std::pair<std::string, std::string>> WithStack(const std::string& site,
                                                             const std::string& version) const;
  double Offset() const;
  nlohmann::json RecordJson(const images::ImageRecord& record) const;
  // Runs `work` on the pool and resumes on the io thread with its result. Not a coroutine
  // itself, and callers name the awaitable before awaiting it: GCC 12 destroys temporaries of a
  // full-expression that contains co_await twice (a known compiler bug), so no capture-holding
  // temporary may appear in one.
  template <typename F>
  auto OffThread(F work) -> asio::awaitable<decltype(work())> {
    using R = decltype(work());
    return asio::co_spawn(
        pool_.get_executor(),
        [work = std::move(work)]() mutable -> asio::awaitable<R> { co_return work(); },
        asio::use_awaitable);
  }

  asio::io_context& io_;
  AgentConfig config_;
  std::unique_ptr<images::ChunkStore> chunks_;
  LogDriver* log_;
  Hooks hooks_;
  BackgroundPool pool_{2};  // hashing, verifying, materializing: at a lower priority
  images::Puller puller_;
  CoreTime time_;
  WakeTimer timer_;
  std::vector<std::string> members_;
  std::vector<std::string> runners_;
  std::map<std::string, Version> versions_;  // by record key
  // (image, version) → how many running copies use it (a stack's version serves several sites).
  std::map<std::pair<std::string, std::string>, int> pinned_;
  std::set<std::pair<std::string, std::string>> wanted_;  // SetWanted's, and Want's
  std::mutex gc_mutex_;                                   // guards imports_ and import_generation_
  int imports_ = 0;
  uint64_t import_generation_ = 0;
  bool gc_wanted_ = false;
  bool scrubbing_ = false;
  Instant last_scrub_{};
  int serving_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  struct Stats {
    uint64_t chunks_served = 0;
    uint64_t bytes_served = 0;  // stored (compressed) bytes
    uint64_t busy_answers = 0;
    uint64_t chunks_fetched = 0;
    uint64_t bytes_fetched = 0;    // stored (compressed) bytes received and kept
    uint64_t chunks_rejected = 0;  // failed verification on arrival
    uint64_t corrupt_found = 0;    // stored chunks that failed verification (then re-fetched)
    uint64_t chunks_collected = 0;
    uint64_t scrubbed_chunks = 0;
    uint64_t versions_materialized = 0;
  } stats_;
};

}  // namespace starling::agent
