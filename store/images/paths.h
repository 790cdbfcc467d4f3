// store/images/paths.h — what a path inside an image may be. Archives and trees are hostile input:
// a path that could reach outside the image root, or confuse a tool, is rejected with the reason.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace starling::images {

inline constexpr size_t kMaxPathBytes = 4096;
inline constexpr size_t kMaxNameBytes = 255;

// A path relative to the image root: components separated by single '/', none empty, "." or
// "..", no NUL, each at most 255 bytes, all at most 4096. (A leading "./", as tar writes, must be
// stripped by the caller first: see NormalizeArchivePath.)
Status ValidateImagePath(std::string_view path);

// tar members often read "./a/b" or "a/b/": returns "a/b". An absolute path, "..", or an empty
// result is an error (the root itself is "" and callers skip it).
Result<std::string> NormalizeArchivePath(std::string_view path);

// A symbolic link at `link_path` pointing at `target` must stay inside the image: followed
// lexically from the link's directory (or from the root, for an absolute target, as inside the
// copy's container), it must never climb above the root.
Status ValidateLinkTarget(std::string_view link_path, std::string_view target);

}  // namespace starling::images
