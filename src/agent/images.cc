#include "src/agent/images.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "src/agent/metrics.h"
#include "src/images/importer.h"
#include "src/images/materialize.h"
#include "src/sites/site.h"
#include "src/state/keys.h"
#include "store/images/transfer.h"

namespace starling::agent {
namespace {

using json = nlohmann::json;
using images::ChunkRef;
using images::Hash;

constexpr int kMaxServes = 4;                 // chunk replies being read at once
constexpr size_t kMaxServeBytes = 16u << 20;  // stored bytes per reply
constexpr auto kProgressEvery = std::chrono::seconds(1);
constexpr auto kScrubEvery = std::chrono::hours(6);
constexpr size_t kScrubBatch = 32;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Materialized trees carry the image's modes (read-only directories among them): make them
// writable for us before removing.
void RemoveTree(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0700);
  }
  ::chmod(path.c_str(), 0700);
  std::filesystem::remove_all(path, ec);
  if (ec) spdlog::warn("cannot remove {}: {}", path.string(), ec.message());
}

// Newest push first; the version name breaks ties so every node orders alike.
bool Newer(const images::ImageRecord& a, const images::ImageRecord& b) {
  return std::tie(a.pushed_ms, a.version) > std::tie(b.pushed_ms, b.version);
}

}  // namespace

ImageService::ImageService(asio::io_context& io, const AgentConfig& config,
                           std::unique_ptr<images::ChunkStore> chunks, store::Replica* log,
                           Hooks hooks)
    : io_(io),
      config_(config),
      chunks_(std::move(chunks)),
      log_(log),
      hooks_(std::move(hooks)),
      puller_([&] {
        images::PullerOptions options;
        options.max_in_flight = config.images.max_in_flight;
        options.per_peer_in_flight = config.images.per_peer_in_flight;
        options.bytes_per_second = config.images.bandwidth_bytes_s;
        return options;
      }()),
      timer_(io),
      members_{config.node_name} {}

ImageService::~ImageService() {
  *alive_ = false;
  pool_.join();
}

// Not a coroutine itself, and callers name the awaitable before awaiting it: GCC 12 destroys
// temporaries of a full-expression that contains co_await twice (a known compiler bug), so no
// capture-holding temporary may appear in one.
template <typename F>
auto ImageService::OffThread(F work) -> asio::awaitable<decltype(work())> {
  using R = decltype(work());
  return asio::co_spawn(
      pool_, [work = std::move(work)]() mutable -> asio::awaitable<R> { co_return work(); },
      asio::use_awaitable);
}

std::string ImageService::ImageDir(const std::string& site, const std::string& version) const {
  return (std::filesystem::path(config_.data_dir) / "images" / site / version).string();
}

double ImageService::Offset() const {
  auto it = std::find(members_.begin(), members_.end(), config_.node_name);
  if (it == members_.end() || members_.empty()) return 0;
  return static_cast<double>(it - members_.begin()) / static_cast<double>(members_.size());
}

void ImageService::SetMembers(std::vector<std::string> alive) {
  std::sort(alive.begin(), alive.end());
  members_ = alive;
  std::erase(alive, config_.node_name);
  std::vector<images::PullRequest> out;
  puller_.SetPeers(hooks_.now(), std::move(alive), &out);
  DrainPulls(&out);
}

void ImageService::DrainPulls(std::vector<images::PullRequest>* out) {
  for (auto& request : *out) asio::co_spawn(io_, RunPull(std::move(request)), asio::detached);
  out->clear();
  ArmTimer();
}

void ImageService::ArmTimer() {
  const Instant next = puller_.NextWake();
  if (next == timer_at_) return;
  timer_at_ = next;
  if (next == kInstantMax) {
    timer_.cancel();
    return;
  }
  const Instant now = hooks_.now();
  timer_.expires_after(next > now ? next - now : Duration::zero());
  timer_.async_wait([this, next, alive = alive_](const asio::error_code& ec) {
    if (ec || !*alive || timer_at_ != next) return;
    timer_at_ = kInstantMax;
    std::vector<images::PullRequest> out;
    puller_.Tick(hooks_.now(), &out);
    DrainPulls(&out);
  });
}

asio::awaitable<void> ImageService::RunPull(images::PullRequest request) {
  auto alive = alive_;
  auto exchange = hooks_.exchange(request.peer, images::EncodeChunkRequest(request.hashes));
  auto reply = co_await std::move(exchange);
  if (!*alive) co_return;
  std::vector<images::PullRequest> out;
  Result<images::ChunkReply> decoded = Status::Unavailable("no answer");
  if (reply) decoded = images::DecodeChunkReply(std::string_view(*reply).substr(1));
  if (!decoded.ok() || decoded->busy) {
    if (!decoded.ok() && reply) {
      spdlog::warn("undecodable chunk reply from {}: {}", request.peer, decoded.status().message());
    }
    puller_.OnFailed(hooks_.now(), request.id, &out);
    DrainPulls(&out);
    co_return;
  }
  struct Stored {
    std::vector<Hash> ok;
    uint64_t bytes = 0;
    std::vector<Hash> rejected;  // bytes that did not match their name
  };
  auto answer = std::make_shared<images::ChunkReply>(std::move(decoded.value()));
  auto asked = std::make_shared<std::unordered_set<Hash, images::HashOfHash>>(
      request.hashes.begin(), request.hashes.end());
  auto task1 = OffThread([this, answer, asked] {
    Stored result;
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
  stats_.chunks_fetched += stored.ok.size();
  stats_.bytes_fetched += stored.bytes;
  stats_.chunks_rejected += stored.rejected.size();
  // A chunk that failed verification is treated as one the peer lacks: asked elsewhere first.
  std::vector<Hash> lacking = std::move(answer->lacking);
  lacking.insert(lacking.end(), stored.rejected.begin(), stored.rejected.end());
  puller_.OnReply(hooks_.now(), request.id, stored.ok, lacking, &out);
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
    images::ChunkReply reply;
    std::vector<Hash> corrupt;
    uint64_t bytes = 0;
  };
  auto wanted = std::make_shared<std::vector<Hash>>(std::move(hashes.value()));
  auto task2 = OffThread([this, wanted] {
    Served result;
    for (const Hash& hash : *wanted) {
      if (result.bytes >= kMaxServeBytes) break;  // unanswered: asked again later
      auto bytes = chunks_->GetStored(hash);      // the puller verifies; so does the scrub here
      if (bytes.ok()) {
        result.bytes += bytes->size();
        result.reply.chunks.emplace_back(hash, std::move(bytes.value()));
        continue;
      }
      result.reply.lacking.push_back(hash);
      if (bytes.status().code() == StatusCode::kCorruption) {
        spdlog::error("stored chunk {} is corrupt: deleted, to be fetched again",
                      images::Hex(hash));
        chunks_->Delete(hash).IgnoreError();
        result.corrupt.push_back(hash);
      }
    }
    return result;
  });
  Served served = co_await std::move(task2);
  if (!*alive) co_return std::string();
  --serving_;
  stats_.chunks_served += served.reply.chunks.size();
  stats_.bytes_served += served.bytes;
  if (!served.corrupt.empty()) OnCorrupt(served.corrupt);
  co_return images::EncodeChunkReply(served.reply);
}

void ImageService::Refresh() {
  std::vector<store::Entry> entries;
  if (Status s = log_->Scan(keys::kImage, &entries); !s.ok()) {
    spdlog::error("images: cannot read the state log: {}", s.ToString());
    return;
  }
  std::set<std::string> present;
  for (const auto& entry : entries) {
    if (entry.tombstone) continue;
    auto record = images::DecodeRecord(entry.value);
    if (!record.ok() || entry.key != images::RecordKey(record->site, record->version) ||
        !sites::ValidateName(record->site).ok()) {
      spdlog::warn("images: ignoring a malformed record at {}", entry.key);
      continue;
    }
    present.insert(entry.key);
    auto [it, added] = versions_.try_emplace(entry.key);
    if (!added) continue;
    it->second.record = std::move(record.value());
    spdlog::info("image {} version {} known: {} files, {} bytes, {} chunks", it->second.record.site,
                 it->second.record.version.substr(0, 12), it->second.record.files,
                 it->second.record.bytes, it->second.record.chunks);
    StartVersion(entry.key, &it->second);
  }
  for (auto it = versions_.begin(); it != versions_.end();) {
    const auto& record = it->second.record;
    if (present.contains(it->first) || pinned_.contains({record.site, record.version})) {
      ++it;
      continue;
    }
    spdlog::info("image {} version {} removed", record.site, record.version.substr(0, 12));
    for (const Hash& hash : it->second.missing) puller_.Forget(hash);
    hooks_.write(keys::Held(record.site, record.version, config_.node_name), "", true);
    it = versions_.erase(it);
    gc_wanted_ = true;
  }
  if (gc_wanted_) CollectGarbage();
  const bool any_held = std::any_of(versions_.begin(), versions_.end(),
                                    [](const auto& v) { return v.second.phase == Phase::kHeld; });
  if (any_held && config_.images.scrub_mb_s > 0 &&
      (last_scrub_ == Instant{} || hooks_.now() - last_scrub_ > kScrubEvery)) {
    Scrub();
  }
}

void ImageService::StartVersion(const std::string& key, Version* version) {
  version->phase = Phase::kManifest;
  CheckPresent(key, version->record.manifest_chunks);
}

// Finds which of `chunks` the store lacks (off the io thread), then wants those.
void ImageService::CheckPresent(const std::string& key, std::vector<ChunkRef> chunks) {
  versions_[key].checking = true;
  auto all = std::make_shared<std::vector<ChunkRef>>(std::move(chunks));
  asio::co_spawn(
      io_,
      [this, key, all, alive = alive_]() -> asio::awaitable<void> {
        auto task3 = OffThread([this, all] {
          std::vector<ChunkRef> lacking;
          for (const ChunkRef& chunk : *all) {
            if (!chunks_->Has(chunk.hash)) lacking.push_back(chunk);
          }
          return lacking;
        });
        std::vector<ChunkRef> missing = co_await std::move(task3);
        if (!*alive) co_return;
        auto it = versions_.find(key);
        if (it == versions_.end()) co_return;
        Version& version = it->second;
        version.checking = false;
        for (const ChunkRef& chunk : missing) version.missing.insert(chunk.hash);
        if (!missing.empty()) {
          puller_.Want(missing, Offset());
          std::vector<images::PullRequest> out;
          puller_.Tick(hooks_.now(), &out);
          DrainPulls(&out);
        }
        WriteProgress(&version, true);
        Advance(key);
      },
      asio::detached);
}

void ImageService::OnChunksStored(const std::vector<Hash>& stored) {
  if (stored.empty()) return;
  std::vector<std::string> done;
  for (auto& [key, version] : versions_) {
    const size_t before = version.missing.size();
    if (before == 0) continue;
    for (const Hash& hash : stored) version.missing.erase(hash);
    if (version.missing.size() == before) continue;
    if (version.missing.empty()) {
      done.push_back(key);
    } else {
      WriteProgress(&version, false);
    }
  }
  for (const auto& key : done) Advance(key);
}

void ImageService::OnCorrupt(const std::vector<Hash>& hashes) {
  stats_.corrupt_found += hashes.size();
  const std::unordered_set<Hash, images::HashOfHash> bad(hashes.begin(), hashes.end());
  std::vector<ChunkRef> want;
  for (auto& [key, version] : versions_) {
    bool touched = false;
    auto check = [&](const std::vector<ChunkRef>& refs) {
      for (const ChunkRef& ref : refs) {
        if (bad.contains(ref.hash) && version.missing.insert(ref.hash).second) {
          want.push_back(ref);
          touched = true;
        }
      }
    };
    check(version.record.manifest_chunks);
    check(version.content);
    if (!touched) continue;
    if (version.phase == Phase::kHeld) version.phase = Phase::kContent;
    WriteProgress(&version, true);
  }
  if (want.empty()) return;
  puller_.Want(want, 0);
  std::vector<images::PullRequest> out;
  puller_.Tick(hooks_.now(), &out);
  DrainPulls(&out);
}

void ImageService::Advance(const std::string& key) {
  auto it = versions_.find(key);
  if (it == versions_.end()) return;
  Version& version = it->second;
  if (!version.missing.empty() || version.checking) return;
  if (version.phase == Phase::kManifest) {
    version.phase = Phase::kLoading;
    auto record = std::make_shared<images::ImageRecord>(version.record);
    asio::co_spawn(
        io_,
        [this, key, record, alive = alive_]() -> asio::awaitable<void> {
          struct Loaded {
            std::shared_ptr<const images::Manifest> manifest;
            Status status = Status::Ok();
          };
          auto task4 = OffThread([this, record] {
            Loaded result;
            auto manifest = images::LoadManifest(*record, chunks_.get());
            if (!manifest.ok()) {
              result.status = manifest.status();
            } else {
              result.manifest = std::make_shared<images::Manifest>(std::move(manifest.value()));
            }
            return result;
          });
          Loaded loaded = co_await std::move(task4);
          if (!*alive) co_return;
          auto found = versions_.find(key);
          if (found == versions_.end()) co_return;
          Version& v = found->second;
          if (!loaded.status.ok()) {
            v.error = loaded.status.message();
            spdlog::error("image {} version {}: {}", record->site, record->version.substr(0, 12),
                          v.error);
            v.phase = Phase::kManifest;
            Scrub();  // a corrupt manifest chunk is found, deleted and fetched again
            co_return;
          }
          v.manifest = loaded.manifest;
          v.content = images::ContentChunks(*v.manifest);
          v.error.clear();
          v.phase = Phase::kContent;
          CheckPresent(key, v.content);
        },
        asio::detached);
    return;
  }
  if (version.phase != Phase::kContent) return;
  version.phase = Phase::kHeld;
  if (Status s = chunks_->Sync(); !s.ok()) spdlog::error("images: {}", s.ToString());
  spdlog::info("image {} version {} held: {} chunks", version.record.site,
               version.record.version.substr(0, 12), version.content.size());
  WriteProgress(&version, true);
  if (!config_.images.materialize || version.materialized || version.materializing) return;
  version.materializing = true;
  asio::co_spawn(
      io_,
      [this, key, manifest = version.manifest,
       dir = ImageDir(version.record.site, version.record.version),
       alive = alive_]() -> asio::awaitable<void> {
        auto task5 = OffThread([this, manifest, dir] {
          images::MaterializeStats stats;
          std::error_code ignored;
          std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ignored);
          return images::Materialize(*manifest, chunks_.get(), dir, &stats);
        });
        Status status = co_await std::move(task5);
        if (!*alive) co_return;
        auto found = versions_.find(key);
        if (found == versions_.end()) co_return;
        Version& v = found->second;
        v.materializing = false;
        if (!status.ok()) {
          v.error = "materializing: " + status.message();
          spdlog::error("image {}: {}", key, v.error);
          if (status.code() == StatusCode::kCorruption) Scrub();
          co_return;
        }
        v.materialized = true;
        ++stats_.versions_materialized;
        WriteProgress(&v, true);
      },
      asio::detached);
}

void ImageService::WriteProgress(Version* version, bool force) {
  const Instant now = hooks_.now();
  if (!force && now - version->last_progress_written < kProgressEvery) return;
  version->last_progress_written = now;
  const bool loaded = version->manifest != nullptr;
  const uint64_t of = loaded ? version->content.size() : version->record.chunks;
  const uint64_t held = loaded ? of - std::min<uint64_t>(of, version->missing.size()) : 0;
  json value = {{"held", held},
                {"of", of},
                {"complete", version->phase == Phase::kHeld},
                {"materialized", version->materialized},
                {"at_ms", WallMs()}};
  if (!version->error.empty()) value["error"] = version->error;
  hooks_.write(keys::Held(version->record.site, version->record.version, config_.node_name),
               value.dump(), false);
}

void ImageService::Scrub() {
  if (scrubbing_ || config_.images.scrub_mb_s == 0) return;
  scrubbing_ = true;
  last_scrub_ = hooks_.now();
  auto hashes = std::make_shared<std::vector<Hash>>();
  {
    std::unordered_set<Hash, images::HashOfHash> seen;
    for (const auto& [key, version] : versions_) {
      for (const auto* refs : {&version.record.manifest_chunks, &version.content}) {
        for (const ChunkRef& ref : *refs) {
          if (!version.missing.contains(ref.hash) && seen.insert(ref.hash).second) {
            hashes->push_back(ref.hash);
          }
        }
      }
    }
  }
  asio::co_spawn(
      io_,
      [this, hashes, alive = alive_]() -> asio::awaitable<void> {
        asio::steady_timer pause(io_);
        const double rate = static_cast<double>(config_.images.scrub_mb_s) * 1e6;
        for (size_t at = 0; at < hashes->size(); at += kScrubBatch) {
          struct Checked {
            std::vector<Hash> corrupt;
            uint64_t bytes = 0;
          };
          auto task6 = OffThread([this, hashes, at] {
            Checked result;
            const size_t end = std::min(hashes->size(), at + kScrubBatch);
            for (size_t i = at; i < end; ++i) {
              auto plain = chunks_->Get((*hashes)[i]);
              if (plain.ok()) {
                result.bytes += plain->size();
              } else if (plain.status().code() == StatusCode::kCorruption) {
                spdlog::error("scrub: stored chunk {} is corrupt: deleted, to be fetched again",
                              images::Hex((*hashes)[i]));
                chunks_->Delete((*hashes)[i]).IgnoreError();
                result.corrupt.push_back((*hashes)[i]);
              }
            }
            return result;
          });
          Checked checked = co_await std::move(task6);
          if (!*alive) co_return;
          stats_.scrubbed_chunks += std::min(kScrubBatch, hashes->size() - at);
          if (!checked.corrupt.empty()) OnCorrupt(checked.corrupt);
          pause.expires_after(std::chrono::microseconds(
              static_cast<int64_t>(static_cast<double>(checked.bytes) / rate * 1e6)));
          co_await pause.async_wait(asio::use_awaitable);
          if (!*alive) co_return;
        }
        scrubbing_ = false;
        spdlog::info("scrub: {} chunks verified, {} corrupt found so far", hashes->size(),
                     stats_.corrupt_found);
      },
      asio::detached);
}

void ImageService::CollectGarbage() {
  // Every kept version's chunks must be known first: a version whose manifest is not in yet
  // might reference anything.
  for (const auto& [key, version] : versions_) {
    if (!version.manifest) return;  // tried again at the next refresh
  }
  gc_wanted_ = false;
  auto referenced = std::make_shared<std::unordered_set<Hash, images::HashOfHash>>();
  std::set<std::string> kept_dirs;
  for (const auto& [key, version] : versions_) {
    for (const auto* refs : {&version.record.manifest_chunks, &version.content}) {
      for (const ChunkRef& ref : *refs) referenced->insert(ref.hash);
    }
    // A kept version's tree, and the one being built beside it (never pulled from under it).
    kept_dirs.insert(ImageDir(version.record.site, version.record.version));
    kept_dirs.insert(ImageDir(version.record.site, version.record.version) + ".partial");
  }
  uint64_t generation = 0;
  {
    std::lock_guard lock(gc_mutex_);
    generation = import_generation_;
  }
  asio::co_spawn(
      io_,
      [this, referenced, kept_dirs, generation, alive = alive_]() -> asio::awaitable<void> {
        auto task7 = OffThread([this, referenced, kept_dirs, generation] {
          // Imports store chunks no record references yet: never collect while one runs, or if
          // one ran since the referenced set was taken.
          std::lock_guard lock(gc_mutex_);
          if (imports_ > 0 || import_generation_ != generation) return int64_t{-1};
          auto all = chunks_->List();
          if (!all.ok()) {
            spdlog::error("images: {}", all.status().ToString());
            return int64_t{-1};
          }
          int64_t deleted = 0;
          for (const Hash& hash : *all) {
            if (referenced->contains(hash)) continue;
            if (chunks_->Delete(hash).ok()) ++deleted;
          }
          if (deleted > 0) {
            if (Status s = chunks_->ReclaimSpace(); !s.ok())
              spdlog::warn("images: {}", s.ToString());
          }
          std::error_code ec;
          const auto root = std::filesystem::path(config_.data_dir) / "images";
          for (const auto& site : std::filesystem::directory_iterator(root, ec)) {
            for (const auto& version : std::filesystem::directory_iterator(site.path(), ec)) {
              if (!kept_dirs.contains(version.path().string())) RemoveTree(version.path());
            }
          }
          return deleted;
        });
        const int64_t collected = co_await std::move(task7);
        if (!*alive) co_return;
        if (collected < 0) {
          gc_wanted_ = true;  // an import ran: try again later
          co_return;
        }
        stats_.chunks_collected += static_cast<uint64_t>(collected);
        if (collected > 0) spdlog::info("images: collected {} unreferenced chunks", collected);
      },
      asio::detached);
}

void ImageService::BeginImport() {
  std::lock_guard lock(gc_mutex_);
  ++imports_;
  ++import_generation_;
}

void ImageService::EndImport() {
  std::lock_guard lock(gc_mutex_);
  --imports_;
}

Result<std::pair<images::ImageRecord, json>> ImageService::Import(
    const std::string& site, const std::string& path, std::vector<std::string> command,
    std::vector<std::pair<std::string, std::string>> env, bool allow_setuid,
    const std::optional<images::ImageRecord>& previous_record) {
  const auto started = std::chrono::steady_clock::now();
  std::optional<images::Manifest> previous;
  if (previous_record) {
    auto loaded = images::LoadManifest(*previous_record, chunks_.get());
    if (loaded.ok()) previous = std::move(loaded.value());  // else: read every file
  }
  images::ImportOptions options;
  options.rules.allow_setuid = allow_setuid;
  options.previous = previous ? &*previous : nullptr;
  images::Manifest manifest;
  images::ImportStats stats;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status::NotFound("cannot read " + path + ": " + std::strerror(errno));
  }
  Status status = S_ISDIR(st.st_mode)
                      ? images::ImportDirectory(path, options, chunks_.get(), &manifest, &stats)
                      : images::ImportArchive(path, options, chunks_.get(), &manifest, &stats);
  if (!status.ok()) return status;
  manifest.site = site;
  manifest.command = std::move(command);
  manifest.env = std::move(env);
  auto record = images::StoreManifest(manifest, images::kManifestChunker, chunks_.get());
  if (!record.ok()) return record.status();
  if (Status s = chunks_->Sync(); !s.ok()) return s;
  record->pushed_ms = WallMs();
  record->pushed_by = config_.node_name;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  json summary = {{"site", site},
                  {"version", record->version},
                  {"files", stats.files},
                  {"bytes", stats.bytes},
                  {"bytes_read", stats.bytes_read},
                  {"chunks", stats.chunks},
                  {"new_chunks", stats.new_chunks},
                  {"new_chunk_bytes", stats.new_chunk_bytes},
                  {"manifest_chunks", record->manifest_chunks.size()},
                  {"seconds", seconds}};
  return std::make_pair(std::move(record.value()), std::move(summary));
}

std::vector<images::ImageRecord> ImageService::Records(const std::string& site) {
  std::vector<store::Entry> entries;
  std::vector<images::ImageRecord> records;
  const std::string prefix = site.empty() ? std::string(keys::kImage) : images::SitePrefix(site);
  if (!log_->Scan(prefix, &entries).ok()) return records;
  for (const auto& entry : entries) {
    if (entry.tombstone) continue;
    auto record = images::DecodeRecord(entry.value);
    if (record.ok()) records.push_back(std::move(record.value()));
  }
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return a.site != b.site ? a.site < b.site : Newer(a, b);
  });
  return records;
}

std::optional<images::ImageRecord> ImageService::Latest(const std::string& site) {
  auto records = Records(site);
  if (records.empty()) return std::nullopt;
  return records.front();
}

std::vector<std::string> ImageService::Expired(const std::string& site,
                                               const images::ImageRecord& newest) {
  auto records = Records(site);
  std::erase_if(records, [&](const auto& r) { return r.version == newest.version; });
  std::vector<std::string> keys;
  const size_t keep = config_.images.keep_versions - 1;  // the newest is one of them
  for (size_t i = keep; i < records.size(); ++i) {
    if (pinned_.contains({site, records[i].version})) continue;
    keys.push_back(images::RecordKey(site, records[i].version));
  }
  return keys;
}

void ImageService::Pin(const std::string& site, const std::string& version) {
  pinned_.insert({site, version});
}

void ImageService::Unpin(const std::string& site, const std::string& version) {
  pinned_.erase({site, version});
  Refresh();
}

json ImageService::RecordJson(const images::ImageRecord& record) const {
  json manifest_chunks = json::array();
  for (const auto& chunk : record.manifest_chunks)
    manifest_chunks.push_back(images::Hex(chunk.hash));
  json out = {{"site", record.site},
              {"version", record.version},
              {"files", record.files},
              {"bytes", record.bytes},
              {"chunks", record.chunks},
              {"command", record.command},
              {"pushed_ms", record.pushed_ms},
              {"pushed_by", record.pushed_by},
              {"manifest_chunks", manifest_chunks.size()}};
  auto it = versions_.find(images::RecordKey(record.site, record.version));
  if (it != versions_.end()) {
    static constexpr const char* kPhases[] = {"fetching manifest", "loading manifest",
                                              "fetching chunks", "held"};
    out["here"] = {{"phase", kPhases[static_cast<int>(it->second.phase)]},
                   {"missing", it->second.missing.size()},
                   {"materialized", it->second.materialized},
                   {"pinned", pinned_.contains({record.site, record.version})}};
    if (it->second.materialized) out["here"]["dir"] = ImageDir(record.site, record.version);
    if (!it->second.error.empty()) out["here"]["error"] = it->second.error;
  }
  return out;
}

json ImageService::ListJson(const std::string& site) {
  json versions = json::array();
  std::set<std::string> seen_sites;
  for (const auto& record : Records(site)) {
    json entry = RecordJson(record);
    entry["current"] = seen_sites.insert(record.site).second;  // newest of its site
    versions.push_back(std::move(entry));
  }
  return {{"versions", versions}};
}

json ImageService::StatusJson(const std::string& site) {
  std::vector<store::Entry> held;
  log_->Scan(keys::HeldOf(site), &held).IgnoreError();
  json versions = json::array();
  for (const auto& record : Records(site)) {
    const std::string prefix = keys::HeldOf(site, record.version);
    json nodes = json::object();
    for (const auto& entry : held) {
      if (entry.tombstone || !entry.key.starts_with(prefix)) continue;
      json value = json::parse(entry.value, nullptr, false);
      if (value.is_discarded()) continue;
      nodes[entry.key.substr(prefix.size())] = value;
    }
    for (const auto& member : members_) {
      if (!nodes.contains(member))
        nodes[member] = {{"held", 0},
                         {"of", record.chunks},
                         {"complete", false},
                         {"materialized", false},
                         {"waiting", true}};
    }
    // This node's own figure is live, not as of its last progress write.
    auto it = versions_.find(images::RecordKey(record.site, record.version));
    if (it != versions_.end() && it->second.manifest) {
      const uint64_t of = it->second.content.size();
      nodes[config_.node_name]["held"] = of - std::min<uint64_t>(of, it->second.missing.size());
      nodes[config_.node_name]["of"] = of;
      nodes[config_.node_name]["complete"] = it->second.phase == Phase::kHeld;
      nodes[config_.node_name]["materialized"] = it->second.materialized;
    }
    size_t complete = 0;
    for (const auto& [name, value] : nodes.items()) {
      complete += value.value("complete", false) &&
                  std::find(members_.begin(), members_.end(), name) != members_.end();
    }
    json entry = RecordJson(record);
    entry["nodes"] = nodes;
    entry["live_nodes"] = members_.size();
    entry["complete_live_nodes"] = complete;
    versions.push_back(std::move(entry));
  }
  return {{"site", site}, {"versions", versions}};
}

json ImageService::MissingJson(const std::string& site, const std::string& version, size_t limit) {
  auto it = versions_.find(images::RecordKey(site, version));
  if (it == versions_.end()) {
    return {{"error", "no version " + version + " of '" + site + "' here"}, {"status", 404}};
  }
  std::vector<std::string> hex;
  for (const Hash& hash : it->second.missing) hex.push_back(images::Hex(hash));
  std::sort(hex.begin(), hex.end());
  const size_t count = hex.size();
  if (hex.size() > limit) hex.resize(limit);
  return {{"site", site},
          {"version", version},
          {"manifest_loaded", it->second.manifest != nullptr},
          {"count", count},
          {"missing", hex}};
}

std::string ImageService::Metrics() const {
  std::string out;
  auto line = [&out](std::string_view name, std::string_view labels, uint64_t value) {
    AppendMetric(&out, name, labels, value);
  };
  const auto& p = puller_.stats();
  out += "# TYPE starling_image_chunks_total counter\n";
  line("starling_image_chunks_total", "kind=\"fetched\"", stats_.chunks_fetched);
  line("starling_image_chunks_total", "kind=\"served\"", stats_.chunks_served);
  line("starling_image_chunks_total", "kind=\"rejected\"", stats_.chunks_rejected);
  line("starling_image_chunks_total", "kind=\"corrupt_found\"", stats_.corrupt_found);
  line("starling_image_chunks_total", "kind=\"collected\"", stats_.chunks_collected);
  line("starling_image_chunks_total", "kind=\"scrubbed\"", stats_.scrubbed_chunks);
  out += "# TYPE starling_image_bytes_total counter\n";
  line("starling_image_bytes_total", "kind=\"fetched\"", stats_.bytes_fetched);
  line("starling_image_bytes_total", "kind=\"served\"", stats_.bytes_served);
  out += "# TYPE starling_image_requests_total counter\n";
  line("starling_image_requests_total", "kind=\"sent\"", p.requests);
  line("starling_image_requests_total", "kind=\"failed\"", p.failures);
  line("starling_image_requests_total", "kind=\"busy_answers\"", stats_.busy_answers);
  out += "# TYPE starling_image_chunks_wanted gauge\n";
  line("starling_image_chunks_wanted", "", puller_.wanted());
  out += "# TYPE starling_image_versions_materialized_total counter\n";
  line("starling_image_versions_materialized_total", "", stats_.versions_materialized);
  return out;
}

}  // namespace starling::agent
