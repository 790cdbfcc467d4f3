// Keeping the chunk store sound and small: background verification (scrub), collection of
// chunks no kept version references, and imports (which collection must wait for).
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "src/agent/clock.h"
#include "src/agent/images.h"
#include "src/images/importer.h"
#include "src/images/materialize.h"

namespace starling::agent {
namespace {

using json = nlohmann::json;
using images::ChunkRef;
using images::Hash;

constexpr size_t kScrubBatch = 32;

}  // namespace

void ImageService::Scrub() {
  if (scrubbing_ || config_.images.scrub_mb_s == 0) return;
  scrubbing_ = true;
  last_scrub_ = time_.Now();
  // The chunks present, listed here (a copy); their duplicates are dropped on the pool.
  auto hashes = std::make_shared<std::vector<Hash>>();
  for (const auto& [key, version] : versions_) {
    for (const auto* refs : {&version.record.manifest_chunks, &version.content}) {
      for (const ChunkRef& ref : *refs) {
        if (version.missing.empty() || !version.missing.contains(ref.hash)) {
          hashes->push_back(ref.hash);
        }
      }
    }
  }
  asio::co_spawn(
      io_,
      [this, hashes, alive = alive_]() -> asio::awaitable<void> {
        auto deduplicate = OffThread([hashes] {
          std::sort(hashes->begin(), hashes->end());
          hashes->erase(std::unique(hashes->begin(), hashes->end()), hashes->end());
          return true;
        });
        co_await std::move(deduplicate);
        if (!*alive) co_return;
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
              if (!kept_dirs.contains(version.path().string())) {
                images::Unmaterialize(version.path().string());
              }
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
    const std::optional<images::ImageRecord>& previous_record, uint64_t site_quota_bytes,
    const images::Layering& layering) {
  const auto started = std::chrono::steady_clock::now();
  std::optional<images::Manifest> previous;
  if (previous_record) {
    auto loaded = images::LoadManifest(*previous_record, chunks_.get());
    if (loaded.ok()) previous = std::move(loaded.value());  // else: read every file
  }
  images::ImportOptions options;
  options.rules.allow_setuid = allow_setuid;
  options.previous = previous ? &*previous : nullptr;
  // The site's quota where it has one, never past the node's.
  const uint64_t node_quota = uint64_t{config_.images.max_image_mb} << 20;
  const uint64_t quota = site_quota_bytes == 0 ? node_quota
                         : node_quota == 0     ? site_quota_bytes
                                               : std::min(node_quota, site_quota_bytes);
  options.limits = {.max_bytes = quota,
                    .max_expansion = config_.images.max_expansion,
                    .min_free_bytes = uint64_t{config_.images.min_free_mb} << 20,
                    .disk_path = (std::filesystem::path(config_.data_dir) / "chunks").string()};
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
  manifest.layering = layering;
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
                  {"devices_skipped", stats.devices_skipped},
                  {"xattrs_dropped", stats.xattrs_dropped},
                  {"manifest_chunks", record->manifest_chunks.size()},
                  {"seconds", seconds}};
  return std::make_pair(std::move(record.value()), std::move(summary));
}

}  // namespace starling::agent
