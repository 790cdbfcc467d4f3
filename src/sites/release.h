// src/sites/release.h — which image version a site's copies run (DESIGN.md §8, deploys).
//
// "release/<site>" names the version copies run, the one before it (a rollback returns there),
// and a restart count (`site restart` rolls the same version again). A push writes a release of
// its new version; copies of an older release are then replaced one at a time, make before break
// (src/rules/rollout.h). Copies carry their release's tag in gossip, so every node sees which
// copies are current. "rollout/<site>" records a release whose copies failed to serve: the
// rollout stops there, the copies of the release before keep serving, and new copies start on
// that one until another release is written.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "src/sites/site.h"

namespace starling::sites {

struct Release {
  std::string version;   // the image version its copies run (hex SHA-256)
  std::string previous;  // the version before, or empty
  uint32_t restart = 0;  // how many times this version was rolled again
  std::string by;        // the node that wrote it
  int64_t at_ms = 0;
  bool operator==(const Release&) const = default;
};

// What a copy reports in gossip: a 64-bit tag of what it was started with — the version, the
// restart count, and the site's settings a copy takes at its start (its memory and process
// limits, its environment and its secrets' fingerprints), so that a change of any of them rolls
// the site's copies. Never 0.
uint64_t Tag(std::string_view version, uint32_t restart, const Site& site);
inline uint64_t Tag(const Release& release, const Site& site) {
  return Tag(release.version, release.restart, site);
}

std::string Encode(const Release& release);  // JSON
Result<Release> DecodeRelease(std::string_view bytes);

// The release in force, given the stored one (if any) and the versions the log keeps, newest
// push first: the stored release while its version is kept; otherwise the newest push (a log
// from before releases, or a release whose version was removed), with the next kept version as
// its previous. Nullopt when no version is kept.
std::optional<Release> InForce(const std::optional<Release>& stored,
                               const std::vector<std::string>& kept_newest_first);

// A release whose copies failed to serve ("rollout/<site>").
struct RolloutFailure {
  uint64_t tag = 0;  // the failed release's Tag
  std::string why;
  std::string node;
  int64_t at_ms = 0;
};

// A site's release as the agent's rounds and its API both see it.
struct ReleaseState {
  Release release;       // in force
  uint64_t tag = 0;      // Tag(release, site): what its copies report
  bool stopped = false;  // the stored failure names this release: its rollout stopped
  // What new copies start on: the release before while the rollout is stopped (and that one
  // is kept), the release in force otherwise.
  std::string start_version;
  uint64_t start_tag = 0;
};
// InForce, its tag, and whether `failure` (the stored "rollout/<site>", if any) stops it.
// Nullopt when no version is kept.
std::optional<ReleaseState> Resolve(const std::optional<Release>& stored,
                                    const std::vector<std::string>& kept_newest_first,
                                    const std::optional<RolloutFailure>& failure, const Site& site);
std::string Encode(const RolloutFailure& failure);
Result<RolloutFailure> DecodeRolloutFailure(std::string_view bytes);

}  // namespace starling::sites
