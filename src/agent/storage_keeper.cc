// The storage service's keeper part (src/agent/storage.h, rules::FilesKeeper): the volume
// started, its options and auth.allow as the agents want them, and the sites' quotas.
#include <spdlog/spdlog.h>
#include <sys/xattr.h>

#include <algorithm>

#include "src/agent/clock.h"
#include "src/agent/storage.h"
#include "src/files/gluster_xml.h"
#include "src/sites/site.h"
#include "src/state/keys.h"

namespace starling::agent {

void StorageService::Keep() {
  kept_ms_ = WallMs();
  const std::vector<rules::StorageNodeView> nodes = ViewWithSelf();
  std::vector<std::string> hosts;
  {
    std::lock_guard lock(mutex_);
    hosts = member_hosts_;
  }
  if (rules::FilesKeeper(nodes) != config_.node_name || !volume_.exists) return;
  // Its options first (a volume made by an earlier agent, or half made, may lack some), who may
  // reach it, then started.
  auto wanted = files::VolumeOptions(config_.files.ping_timeout_s);
  hosts.push_back(config_.advertise.host);
  if (const std::string allow = files::AuthAllow(hosts); !allow.empty()) {
    wanted.emplace_back("auth.allow", allow);
  }
  for (const auto& [name, value] : wanted) {
    auto now = volume_.options.find(name);
    if (now != volume_.options.end() && now->second == value) continue;
    spdlog::info("files: volume option {} = {}", name, value);
    if (Status s = Run({"volume", "set", files::kVolume, name, value}); !s.ok()) {
      SetWhy("cannot set the volume's " + name + ": " + s.message());
      return;
    }
    volume_.options[name] = value;
  }
  if (!volume_.started) {
    spdlog::info("files: starting the volume (made, not started)");
    if (Status s = Run({"volume", "start", files::kVolume});
        !s.ok() && s.message().find("already started") == std::string::npos) {
      SetWhy("cannot start the volume: " + s.message());
    }
    return;
  }
  KeepQuotas();
}

void StorageService::KeepQuotas() {
  // What the sites ask: a limit for each site that persists paths and has a quota.
  std::map<std::string, uint32_t> wanted;
  std::vector<store::Entry> entries;
  if (!log_->Scan(keys::kSite, &entries).ok()) return;
  for (const auto& entry : entries) {
    if (entry.tombstone) continue;
    auto site = sites::Decode(entry.value);
    if (site.ok() && !site->persist.empty() && site->files_quota_mb > 0) {
      wanted[site->name] = site->files_quota_mb;
    }
  }
  if (!wanted.empty() && (volume_.options["features.quota"] != "on" ||
                          volume_.options["features.hard-timeout"] != "0" ||
                          volume_.options["features.soft-timeout"] != "0")) {
    // Enforced at every write (timeouts 0: GlusterFS's defaults let a site run far past its
    // limit before noticing); turned on once a site asks for a quota.
    spdlog::info("files: turning quotas on");
    const std::vector<std::vector<std::string>> steps = {
        {"volume", "quota", files::kVolume, "enable"},
        {"volume", "quota", files::kVolume, "soft-timeout", "0"},
        {"volume", "quota", files::kVolume, "hard-timeout", "0"}};
    for (const auto& args : steps) {
      if (Status s = Run(args);
          !s.ok() && s.message().find("already enabled") == std::string::npos) {
        SetWhy("cannot turn quotas on: " + s.message());
        return;
      }
    }
    return;  // the next pass sees the options and sets the limits
  }
  for (const auto& [site, mb] : wanted) {
    if (quotas_.contains(site) && quotas_[site] == mb) continue;
    // Fails until the site's directory exists (made when its first copy starts): next pass.
    if (Run({"volume", "quota", files::kVolume, "limit-usage", "/sites/" + site,
             std::to_string(mb) + "MB"})
            .ok()) {
      spdlog::info("files: {} may keep {} MiB of files", site, mb);
      quotas_[site] = mb;
    }
  }
  for (auto it = quotas_.begin(); it != quotas_.end();) {
    if (wanted.contains(it->first) ||
        !Run({"volume", "quota", files::kVolume, "remove", "/sites/" + it->first}).ok()) {
      ++it;
      continue;
    }
    spdlog::info("files: {} has no quota any more", it->first);
    it = quotas_.erase(it);
  }
  // Each site's use as this node's brick accounts it (the quota translator's xattr: bytes,
  // files, directories as big-endian 64-bit numbers).
  nlohmann::json use = nlohmann::json::object();
  for (const auto& [site, mb] : wanted) {
    unsigned char value[24] = {};
    const std::string dir = brick_ + "/sites/" + site;
    const ssize_t n = ::lgetxattr(dir.c_str(), "trusted.glusterfs.quota.size", value, sizeof value);
    uint64_t bytes = 0;
    for (ssize_t i = 0; i < std::min<ssize_t>(n, 8); ++i) bytes = (bytes << 8) | value[i];
    use[site] = {{"limit_mb", mb},
                 {"used_bytes", n >= 8 ? nlohmann::json(bytes) : nlohmann::json()},
                 {"limit_set", quotas_.contains(site) && quotas_[site] == mb}};
  }
  std::lock_guard lock(mutex_);
  status_["quota"] = use;
}

}  // namespace starling::agent
