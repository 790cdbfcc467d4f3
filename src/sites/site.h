// src/sites/site.h — a hosted site as the state log holds it (key "site/<name>", JSON value).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "src/state/keys.h"

namespace starling::sites {

struct Site {
  std::string name;
  std::vector<std::string> domains;  // lower-case host names, sorted, unique
  uint32_t min_copies = 1;
  uint32_t max_copies = 8;
  double up = 2.0;                // load average per copy at which a copy is added
  double down = 1.0;              // and under which one is removed
  uint32_t memory_mb = 512;       // each copy's memory limit
  uint32_t pids = 256;            // each copy's limit on processes and threads
  uint32_t start_timeout_s = 60;  // a copy not answering on its port by then has failed
  uint32_t max_body_mb = 16;      // the largest request body the balancers pass on
  uint32_t surge = 1;             // copies a rollout replaces at once
  // The largest image (file bytes) a push may make, in MiB; 0: the node's images.max_image_mb,
  // which also caps it. Set by the platform's operator: a site's own token cannot change it.
  uint32_t image_quota_mb = 0;
  // A database of its own on the cluster's MariaDB (DESIGN.md §10): schema and user named by
  // DatabaseName, its password sealed in the state log. Turning it off keeps the database.
  bool database = false;
  // What its copies get in their environment besides the image's (site update --env), and the
  // names of its secret settings (site update --secret), each with a fingerprint of its sealed
  // value: the values are kept sealed in the log (keys::SiteSecret), and a new one rolls the
  // copies. The database's settings win over both.
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> secrets;  // name → fingerprint
  // Paths under its document root that every copy shares on the cluster's file system
  // (src/sites/persist.h), and their quota in MiB (0: none). The quota is the operator's, as
  // image_quota_mb.
  std::vector<std::string> persist;
  uint32_t files_quota_mb = 0;
  bool operator==(const Site&) const = default;
};

inline constexpr uint32_t kMaxCopies = 1000;
inline constexpr size_t kMaxDomains = 100;
inline constexpr size_t kMaxDatabaseSiteName = 57;  // db::kMaxImportedSchema
inline constexpr size_t kMaxEnv = 64;               // settings and secrets together
inline constexpr size_t kMaxEnvValue = 4096;
inline constexpr uint32_t kMinMemoryMb = 16, kMaxMemoryMb = 1u << 20;
inline constexpr uint32_t kMinPids = 8, kMaxPids = 1u << 20;
inline constexpr uint32_t kMaxStartTimeoutS = 3600, kMaxBodyMb = 10240, kMaxSurge = 100;
inline constexpr uint32_t kMaxImageQuotaMb = 1u << 20;
inline constexpr uint32_t kMaxFilesQuotaMb = 1u << 24;

// 1–63 characters of [a-z0-9-], starting with a letter, not ending with '-'.
Status ValidateName(std::string_view name);
// A host name: labels of [a-z0-9-] (1–63, no leading or trailing '-'), at least two, ≤ 253 in all.
Status ValidateDomain(std::string_view domain);
// An environment variable's name: [A-Za-z_][A-Za-z0-9_]*, at most 64; never PORT (the copy's).
Status ValidateEnvName(std::string_view name);
// Every field, and how they relate (min ≤ max, down < up).
Status Validate(const Site& site);

// The schema and user name of a site's database: its name with '-' as '_' (a site name starts
// with a letter and has at most 63 characters, so this is always a plain MariaDB identifier).
std::string DatabaseName(std::string_view site);

// The state log key of a site (src/state/keys.h).
inline std::string Key(std::string_view name) { return keys::Site(name); }
inline constexpr std::string_view kKeyPrefix = keys::kSite;

nlohmann::json ToJson(const Site& site);
// Applies the fields present in `body` onto `base` (a create starts from the defaults). Unknown
// fields, wrong types and invalid values are errors naming the field; `name` may not change.
Result<Site> Apply(const Site& base, const nlohmann::json& body, bool create);

std::string Encode(const Site& site);
Result<Site> Decode(std::string_view bytes);

}  // namespace starling::sites
