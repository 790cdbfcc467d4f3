// src/sites/persist.h — the paths of a site that persist (issue 19, docs/FILES.md): directories
// under its document root that every copy shares, read-write, on the cluster's replicated file
// system, kept across copies, servers and versions (they are not part of the image).
//
// A path is relative to the document root: components of [A-Za-z0-9._-], none "." or "..", no
// leading '/', a trailing '/' dropped ("wp-content/uploads", "data"). A site has at most
// kMaxPersist of them, sorted, none inside another (compared by components: "data" and
// "data2" are apart, "data" and "data/cache" overlap).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace starling::sites {

inline constexpr size_t kMaxPersist = 16;
inline constexpr size_t kMaxPersistPath = 255;

// `path` in its one spelling (trailing '/' dropped), or why it cannot persist.
Result<std::string> NormalizePersistPath(std::string_view path);
// Checks a whole list: each path normalized, sorted, no duplicates, none inside another.
Status ValidatePersist(const std::vector<std::string>& paths);
// `paths` normalized and sorted (the form ValidatePersist accepts), or the first error.
Result<std::vector<std::string>> NormalizePersist(const std::vector<std::string>& paths);

}  // namespace starling::sites
