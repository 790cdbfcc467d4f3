// src/images/idmap.h — an id-mapped view of a directory (the kernel's idmapped mounts, Linux
// 5.12+; under overlayfs, 5.19+): files owned by uid/gid N (0 ≤ N < count) below `source` appear
// at `target` owned by base + N. A copy's image is seen this way beneath its overlay, so that in
// the copy's user namespace (base mapped to its root) the image's files have their own owners —
// root's files are its root's, www-data's its www-data's — while on the host they belong to an
// unprivileged range. Nothing is copied or chowned; the image stays shared by every copy.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace starling::images {

// How many ids each copy's range holds (uid and gid 0..65535 inside).
inline constexpr uint32_t kIdRangeSize = 65536;

// Mounts `source` at `target` (an existing directory) with ids shifted by `base`. Needs root.
// Unavailable with the reason when the kernel or file system cannot.
Status MountIdmapped(const std::string& source, const std::string& target, uint32_t base,
                     uint32_t count = kIdRangeSize);

}  // namespace starling::images
