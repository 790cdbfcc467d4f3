// src/agent/site_files.h — the persisted paths a site's copy gets bound (issue 19): none for a
// site that persists nothing; otherwise its directories on this worker's mount of the files
// volume (src/files/site_dirs.h), at the stack's document root of the version the copy runs (or
// the image's root for a whole-root image), owned by the stack's www-data (uid 33 in Debian's
// stacks) or the copy's root.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "src/agent/files_mount.h"
#include "src/agent/images.h"
#include "src/agent/log_driver.h"
#include "src/files/site_dirs.h"
#include "src/images/registry.h"

namespace starling::agent {

// kUnavailable while the volume is not mounted here (the copy waits: the next round tries
// again); kFailedPrecondition when this node mounts no volume at all. `mount` may be null.
Result<std::vector<files::PersistBind>> SiteFiles(const LogDriver& log, ImageService& images,
                                                  const FilesMount* mount, const std::string& site,
                                                  const images::ImageRecord& version);

}  // namespace starling::agent
