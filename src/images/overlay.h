// src/images/overlay.h — a copy's root filesystem: the node's read-only materialized image below,
// the copy's own writable layer above (overlayfs, mounted with mount(2), never the mount command).
// Starting a copy costs a mount, not a copy of files.
#pragma once

#include <string>

#include "base/status.h"

namespace starling::images {

struct OverlayMount {
  std::string root;   // the merged tree the copy runs in: <copy_dir>/root
  std::string upper;  // the copy's writes: <copy_dir>/upper
};

// Mounts `image` (a materialized image directory) under a fresh writable layer in `copy_dir`.
// Where overlayfs cannot be used (no privilege, no kernel support) the error says so; callers
// choose a fallback explicitly, never silently.
Result<OverlayMount> MountOverlay(const std::string& image, const std::string& copy_dir);

// Unmounts the copy's root (the writable layer stays for inspection until the copy's directory
// is removed). A root that is not mounted is not an error.
Status UnmountOverlay(const OverlayMount& mount);

}  // namespace starling::images
