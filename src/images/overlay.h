// src/images/overlay.h — a copy's root filesystem: the node's read-only materialized image below,
// the copy's own writable layer above (overlayfs, mounted with mount(2), never the mount command).
// Starting a copy costs a mount, not a copy of files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace starling::images {

struct OverlayMount {
  std::string root;   // the merged tree the copy runs in: <copy_dir>/root
  std::string upper;  // the copy's writes: <copy_dir>/upper
  // The layers' id-mapped views, top first: <copy_dir>/lower, lower-1, ...; empty when not mapped.
  std::vector<std::string> lowers;
};

// The most read-only layers a copy's root has (a site's version over its stack's is two).
inline constexpr size_t kMaxLayers = 4;

// Mounts `layers` (materialized image directories, the top one first: a site's version, then the
// stack it is layered on) under a fresh writable layer in `copy_dir`.
Result<OverlayMount> MountOverlay(const std::vector<std::string>& layers,
                                  const std::string& copy_dir, uint32_t id_base = 0);

// Mounts `image` (a materialized image directory) under a fresh writable layer in `copy_dir`.
// With `id_base` (a copy in a user namespace whose root is host uid `id_base`), the image is seen
// through an id-mapped mount (src/images/idmap.h) and the writable layer belongs to that range:
// the copy's root owns its files there, and on the host they are an unprivileged user's. Where
// overlayfs cannot be used (no privilege, no kernel support) the error says so; callers choose a
// fallback explicitly, never silently.
Result<OverlayMount> MountOverlay(const std::string& image, const std::string& copy_dir,
                                  uint32_t id_base = 0);

// The mounts under `copy_dir`, at the paths MountOverlay gives them (every possible lower: whether
// mapped or not).
OverlayMount OverlayOf(const std::string& copy_dir);

// Unmounts what is under `copy_dir` (OverlayOf) and removes the directory, only once nothing is
// mounted there: removing it over a mapped view would reach into the image every copy shares.
// The error says what is still mounted (the directory then stays).
Status RemoveCopyDir(const std::string& copy_dir);

// Unmounts the copy's root and the image's mapped view, detaching what is busy (the writable
// layer stays for inspection until the copy's directory is removed). What is not mounted is not
// an error. An error means something is still mounted there: do not remove the copy's directory.
Status UnmountOverlay(const OverlayMount& mount);

}  // namespace starling::images
