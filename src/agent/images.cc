#include "src/agent/images.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "src/agent/clock.h"
#include "src/images/materialize.h"
#include "src/sites/site.h"
#include "src/state/keys.h"

// The versions a node holds: learned from the state log, their chunks wanted until present,
// then held and materialized; pinned while a copy runs them. (Transfers: image_transfer.cc;
// scrubbing, collection and imports: image_upkeep.cc; what the API shows: image_json.cc.)
namespace starling::agent {
namespace {

using json = nlohmann::json;
using images::ChunkRef;
using images::Hash;

constexpr auto kProgressEvery = std::chrono::seconds(1);
constexpr auto kScrubEvery = std::chrono::hours(6);

// Newest push first; the version name breaks ties so every node orders alike.
bool Newer(const images::ImageRecord& a, const images::ImageRecord& b) {
  return std::tie(a.pushed_ms, a.version) > std::tie(b.pushed_ms, b.version);
}

}  // namespace

ImageService::ImageService(asio::io_context& io, CoreTime time, const AgentConfig& config,
                           std::unique_ptr<images::ChunkStore> chunks, LogDriver* log, Hooks hooks)
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
      time_(time),
      timer_(io.get_executor(), time),
      members_{config.node_name} {}

ImageService::~ImageService() {
  *alive_ = false;
  pool_.join();
}

std::string ImageService::ImageDir(const std::string& site, const std::string& version) const {
  return (std::filesystem::path(config_.data_dir) / "images" / site / version).string();
}

double ImageService::Offset() const {
  auto it = std::find(members_.begin(), members_.end(), config_.node_name);
  if (it == members_.end() || members_.empty()) return 0;
  return static_cast<double>(it - members_.begin()) / static_cast<double>(members_.size());
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
    // A record's key names its version: a known key holds the same record (no decoding again;
    // this runs on every change of the state log).
    if (versions_.contains(entry.key)) {
      present.insert(entry.key);
      continue;
    }
    auto record = images::DecodeRecord(entry.value);
    if (!record.ok() || entry.key != images::RecordKey(record->site, record->version) ||
        !images::ValidateImageName(record->site).ok()) {
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
    log_->WriteLocal(keys::Held(record.site, record.version, config_.node_name), "", true);
    it = versions_.erase(it);
    gc_wanted_ = true;
  }
  if (gc_wanted_) CollectGarbage();
  const bool any_held = std::any_of(versions_.begin(), versions_.end(),
                                    [](const auto& v) { return v.second.phase == Phase::kHeld; });
  if (any_held && config_.images.scrub_mb_s > 0 &&
      (last_scrub_ == Instant{} || time_.Now() - last_scrub_ > kScrubEvery)) {
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
      [this, key, all, offset = Offset(), alive = alive_]() -> asio::awaitable<void> {
        struct Lacking {
          std::vector<ChunkRef> chunks;  // in this node's fetch order (from its offset)
          std::unordered_set<images::Hash, images::HashOfHash> hashes;
        };
        auto task3 = OffThread([this, all, offset] {
          Lacking lacking;
          for (const ChunkRef& chunk : *all) {
            if (!chunks_->Has(chunk.hash)) lacking.chunks.push_back(chunk);
          }
          const size_t n = lacking.chunks.size();
          if (n > 0) {
            const auto start = static_cast<std::ptrdiff_t>(
                std::min(n - 1, static_cast<size_t>(offset * static_cast<double>(n))));
            std::rotate(lacking.chunks.begin(), lacking.chunks.begin() + start,
                        lacking.chunks.end());
          }
          lacking.hashes.reserve(n);
          for (const ChunkRef& chunk : lacking.chunks) lacking.hashes.insert(chunk.hash);
          return lacking;
        });
        Lacking missing = co_await std::move(task3);
        if (!*alive) co_return;
        auto it = versions_.find(key);
        if (it == versions_.end()) co_return;
        Version& version = it->second;
        version.checking = false;
        if (version.missing.empty()) {
          version.missing = std::move(missing.hashes);
        } else {
          version.missing.merge(missing.hashes);
        }
        if (!missing.chunks.empty()) {
          WantInSteps(key, std::make_shared<std::vector<ChunkRef>>(std::move(missing.chunks)), 0);
        }
        WriteProgress(&version, true);
        Advance(key);
      },
      asio::detached);
}

// Hands `chunks` (from `from` on) to the puller a step at a time, a turn of the io thread each:
// a large image's tens of thousands of chunks would otherwise hold it for milliseconds.
void ImageService::WantInSteps(const std::string& key,
                               std::shared_ptr<std::vector<ChunkRef>> chunks, size_t from) {
  constexpr size_t kStep = 2048;
  if (!versions_.contains(key)) return;  // removed meanwhile: the rest is not wanted
  const size_t end = std::min(chunks->size(), from + kStep);
  const auto first = chunks->begin() + static_cast<std::ptrdiff_t>(from);
  puller_.Want(std::vector<ChunkRef>(first, chunks->begin() + static_cast<std::ptrdiff_t>(end)),
               /*offset=*/0);  // already in this node's order
  std::vector<images::PullRequest> out;
  puller_.Tick(time_.Now(), &out);
  DrainPulls(&out);
  if (end < chunks->size()) {
    asio::post(io_, [this, key, chunks, end, alive = alive_] {
      if (*alive) WantInSteps(key, chunks, end);
    });
  }
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
  for (auto& [key, held] : versions_) {
    auto& version = held;  // (a lambda may not name a structured binding before C++20's fix)
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
  puller_.Tick(time_.Now(), &out);
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
            std::vector<ChunkRef> content;  // distinct, worked out on the pool
            Status status = Status::Ok();
          };
          auto task4 = OffThread([this, record] {
            Loaded result;
            auto manifest = images::LoadManifest(*record, chunks_.get());
            if (!manifest.ok()) {
              result.status = manifest.status();
            } else {
              result.manifest = std::make_shared<images::Manifest>(std::move(manifest.value()));
              result.content = images::ContentChunks(*result.manifest);
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
          v.content = std::move(loaded.content);
          v.error.clear();
          v.phase = Phase::kContent;
          CheckPresent(key, v.content);
        },
        asio::detached);
    return;
  }
  if (version.phase != Phase::kContent) return;
  version.phase = Phase::kHeld;
  spdlog::info("image {} version {} held: {} chunks", version.record.site,
               version.record.version.substr(0, 12), version.content.size());
  WriteProgress(&version, true);
  // Its chunks are synced off the io thread; then it is written out if this node wants it.
  asio::co_spawn(
      io_,
      [this, key, alive = alive_]() -> asio::awaitable<void> {
        auto task5 = OffThread([this] { return chunks_->Sync(); });
        Status status = co_await std::move(task5);
        if (!status.ok()) spdlog::error("images: {}", status.ToString());
        if (!*alive) co_return;
        auto found = versions_.find(key);
        if (found == versions_.end()) co_return;
        found->second.synced = true;
        UpdateTrees();
      },
      asio::detached);
}

void ImageService::UpdateTrees() {
  if (!config_.images.materialize) return;
  std::vector<std::string> write, remove;
  for (const auto& [key, version] : versions_) {
    if (version.materializing) continue;
    const auto id = std::make_pair(version.record.site, version.record.version);
    const bool wanted = wanted_.contains(id) || pinned_.contains(id);
    const bool held = version.phase == Phase::kHeld && version.synced;
    if (wanted && held && !version.materialized) write.push_back(key);
    if (!wanted && version.materialized) remove.push_back(key);
  }
  for (const auto& key : write) WriteTree(key);
  for (const auto& key : remove) RemoveTree(key);
}

void ImageService::WriteTree(const std::string& key) {
  Version& version = versions_.at(key);
  version.materializing = true;
  asio::co_spawn(
      io_,
      [this, key, manifest = version.manifest,
       dir = ImageDir(version.record.site, version.record.version),
       alive = alive_]() -> asio::awaitable<void> {
        auto task = OffThread([this, manifest, dir] {
          images::MaterializeStats stats;
          std::error_code ignored;
          std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ignored);
          return images::Materialize(*manifest, chunks_.get(), dir, &stats);
        });
        Status status = co_await std::move(task);
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
        UpdateTrees();  // wanted no more meanwhile: removed again
      },
      asio::detached);
}

void ImageService::RemoveTree(const std::string& key) {
  Version& version = versions_.at(key);
  version.materializing = true;
  version.materialized = false;
  spdlog::info("image {} version {}: its tree is removed here (no copy here runs it)",
               version.record.site, version.record.version.substr(0, 12));
  asio::co_spawn(
      io_,
      [this, key, dir = ImageDir(version.record.site, version.record.version),
       alive = alive_]() -> asio::awaitable<void> {
        auto task = OffThread([dir] {
          images::Unmaterialize(dir);
          return 0;
        });
        co_await std::move(task);
        if (!*alive) co_return;
        auto found = versions_.find(key);
        if (found == versions_.end()) co_return;
        found->second.materializing = false;
        WriteProgress(&found->second, true);
        UpdateTrees();  // wanted again meanwhile: written again
      },
      asio::detached);
}

std::vector<std::pair<std::string, std::string>> ImageService::WithStack(
    const std::string& site, const std::string& version) const {
  std::vector<std::pair<std::string, std::string>> needed = {{site, version}};
  auto it = versions_.find(images::RecordKey(site, version));
  if (it != versions_.end() && !it->second.record.stack.empty()) {
    needed.emplace_back(it->second.record.stack, it->second.record.stack_version);
  }
  return needed;
}

std::vector<std::string> ImageService::LayerDirs(const std::string& site,
                                                 const std::string& version) const {
  std::vector<std::string> dirs;
  for (const auto& [image, at] : WithStack(site, version)) dirs.push_back(ImageDir(image, at));
  return dirs;
}

void ImageService::SetWanted(std::set<std::pair<std::string, std::string>> wanted) {
  for (const auto& [site, version] : std::set(wanted)) {
    for (auto& needed : WithStack(site, version)) wanted.insert(std::move(needed));
  }
  if (wanted == wanted_) return;
  wanted_ = std::move(wanted);
  UpdateTrees();
}

void ImageService::Want(const std::string& site, const std::string& version) {
  bool added = false;
  for (auto& needed : WithStack(site, version)) added |= wanted_.insert(std::move(needed)).second;
  if (added) UpdateTrees();
}

std::optional<images::ImageRecord> ImageService::Record(const std::string& site,
                                                        const std::string& version) {
  auto it = versions_.find(images::RecordKey(site, version));
  if (it != versions_.end()) return it->second.record;
  for (auto& record : Records(site)) {
    if (record.version == version) return record;
  }
  return std::nullopt;
}

void ImageService::WriteProgress(Version* version, bool force) {
  const Instant now = time_.Now();
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
  log_->WriteLocal(keys::Held(version->record.site, version->record.version, config_.node_name),
                   value.dump(), false);
}

std::vector<images::ImageRecord> ImageService::Records(const std::string& site) {
  std::vector<store::Entry> entries;
  std::vector<images::ImageRecord> records;
  const std::string prefix = site.empty() ? std::string(keys::kImage) : images::SitePrefix(site);
  if (!log_->Scan(prefix, &entries).ok()) return records;
  for (const auto& entry : entries) {
    if (entry.tombstone) continue;
    // A version this node knows: its record as decoded then (a key names one version).
    if (auto known = versions_.find(entry.key); known != versions_.end()) {
      records.push_back(known->second.record);
      continue;
    }
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
  // A stack's version that a site's version stands on stays as long as that one does.
  std::set<std::string> used;
  if (images::IsStackImage(site)) {
    for (const auto& record : Records("")) {
      if (record.stack == site) used.insert(record.stack_version);
    }
  }
  std::vector<std::string> keys;
  const size_t keep = config_.images.keep_versions - 1;  // the newest is one of them
  for (size_t i = keep; i < records.size(); ++i) {
    if (pinned_.contains({site, records[i].version}) || used.contains(records[i].version)) continue;
    keys.push_back(images::RecordKey(site, records[i].version));
  }
  return keys;
}

bool ImageService::Materialized(const std::string& site, const std::string& version) const {
  for (const auto& [image, at] : WithStack(site, version)) {
    auto it = versions_.find(images::RecordKey(image, at));
    if (it == versions_.end() || !it->second.materialized) return false;
  }
  return true;
}

void ImageService::Pin(const std::string& site, const std::string& version) {
  for (auto& needed : WithStack(site, version)) ++pinned_[std::move(needed)];
}

void ImageService::Unpin(const std::string& site, const std::string& version) {
  for (const auto& needed : WithStack(site, version)) {
    auto it = pinned_.find(needed);
    if (it != pinned_.end() && --it->second <= 0) pinned_.erase(it);
  }
  Refresh();
  UpdateTrees();
}

}  // namespace starling::agent
