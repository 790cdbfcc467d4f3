// base/file.h — small whole files, for the shells (configs, keyrings, identity, cgroup and /proc
// files). The pure cores never include this (scripts/check-determinism).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "base/status.h"

namespace starling {

// NotFound when the file cannot be opened.
Result<std::string> ReadFile(const std::filesystem::path& path);

// The last `max_bytes` of a file (a log's end, for an error message), "..." first when cut;
// empty when it cannot be read. Reads only that much.
std::string ReadTail(const std::filesystem::path& path, size_t max_bytes);

// Reads a secret (a key file, a token file): kPermissionDenied when group or others may read it,
// since then it is no secret. `what` names it in the error ("the key file").
Result<std::string> ReadPrivateFile(const std::filesystem::path& path, std::string_view what);

// Writes `contents` to `path` atomically and durably: written to "<path>.tmp", fsync'd, renamed
// over `path`. A reader sees the old or the new file, never half. Blocking (it syncs): call it
// off the thread that answers probes.
Status WriteFileAtomically(const std::filesystem::path& path, const std::string& contents,
                           mode_t mode);

}  // namespace starling
