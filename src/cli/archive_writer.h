// src/cli/archive_writer.h — the CLI's side of an image push: a directory on the user's machine
// becomes a tar archive (pax, zstd) in a temporary file, walked and written by libarchive, that
// is then sent to an agent (the agent never reads the user's disk).
#pragma once

#include <string>

#include "base/status.h"

namespace starling::cli {

// Writes the tree under `dir` (modes, owners, symlinks, hard links, xattrs as they are; the
// agent decides what it keeps) to a new temporary file; its path, which the caller removes.
// With `prefix` ("/var/www/html": a stack's docroot) the tree is written under it, after its
// directories.
Result<std::string> ArchiveDirectory(const std::string& dir, const std::string& prefix = "");

}  // namespace starling::cli
