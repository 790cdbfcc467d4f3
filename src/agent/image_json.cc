// What the API shows of images: versions, which node holds what, what a node still lacks, and
// the counters for /metrics.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "src/agent/images.h"
#include "src/agent/metrics.h"
#include "src/state/keys.h"

namespace starling::agent {

using json = nlohmann::json;
using images::Hash;

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
  if (!record.stack.empty()) {
    out["stack"] = record.stack.substr(images::kStackPrefix.size());
    out["stack_version"] = record.stack_version;
  }
  if (!record.docroot.empty()) out["docroot"] = record.docroot;
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
    if (site.empty() && images::IsStackImage(record.site)) continue;  // stack ls shows those
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
    // Copies can start on a runner once it has written the version out (only the release
    // in force and what a stopped rollout falls back to are).
    size_t runnable = 0;
    for (const auto& runner : runners_) {
      runnable += nodes.contains(runner) && nodes[runner].value("materialized", false);
    }
    json entry = RecordJson(record);
    entry["nodes"] = nodes;
    entry["live_nodes"] = members_.size();
    entry["complete_live_nodes"] = complete;
    entry["runners"] = runners_.size();
    entry["runnable_runners"] = runnable;
    versions.push_back(std::move(entry));
  }
  return {{"site", site}, {"versions", versions}};
}

Result<json> ImageService::MissingJson(const std::string& site, const std::string& version,
                                       size_t limit) {
  auto it = versions_.find(images::RecordKey(site, version));
  if (it == versions_.end()) {
    return Status::NotFound("no version " + version + " of '" + site + "' here");
  }
  std::vector<std::string> hex;
  for (const Hash& hash : it->second.missing) hex.push_back(images::Hex(hash));
  std::sort(hex.begin(), hex.end());
  const size_t count = hex.size();
  if (hex.size() > limit) hex.resize(limit);
  return json{{"site", site},
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
