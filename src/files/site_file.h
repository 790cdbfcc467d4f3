// src/files/site_file.h — one file of a site's on the files volume, for operators (`starling
// files get|put SITE PATH`, issue 19). The path is relative to the site's directory on the mount
// (the same as under its document root: "wp-content/uploads/2026/12/logo.png"); every component
// is opened beneath that directory with no symbolic link followed (openat2 RESOLVE_BENEATH and
// RESOLVE_NO_SYMLINKS), so a link a site's code planted (to /etc/shadow) is refused, never read
// or written as the agent's root.
#pragma once

#include <string>

#include "base/status.h"

namespace starling::files {

// `path` in its one spelling: components of [A-Za-z0-9._-] (not "." or ".."), no leading '/',
// at most 1024 bytes.
Result<std::string> NormalizeFilePath(std::string_view path);

// An open file descriptor of `path` beneath `site_dir`, for reading. kNotFound if missing;
// kFailedPrecondition for a link, a directory or anything but a regular file.
// Errors name the file `shown` (the operator's whole path) when given, else `path`.
Result<int> OpenSiteFile(const std::string& site_dir, const std::string& path,
                         const std::string& shown = "");

// Writes the file at `from` (the uploaded body) to `path` beneath `site_dir`: its directory must
// exist; written aside and renamed into place (never half a file), owned like that directory
// (the copies' user), mode 0660. Its size.
Result<uint64_t> PutSiteFile(const std::string& site_dir, const std::string& path,
                             const std::string& from, const std::string& shown = "");

}  // namespace starling::files
