// src/copies/log_bound.h — a copy's output (its stdout and stderr: a PHP stack's access log among
// them) kept bounded on the node's disk: once the log passes its limit, its newer half is kept
// as "<log>.1" and the log starts again from empty (copy-then-truncate: the copy keeps writing to
// the same open file, opened for appending). Lines written between the copy and the truncation
// are lost; nothing else.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace starling::copies {

// The most a copy's log and its ".1" together take, about.
inline constexpr uint64_t kMaxLogBytes = uint64_t{32} << 20;

// Bounds the log at `path` to `max_bytes`: past it, the last max_bytes / 2 go to `path`.1 (which
// they replace) and `path` is truncated. True when it rotated. Blocking: off the io thread.
Result<bool> BoundLog(const std::string& path, uint64_t max_bytes = kMaxLogBytes / 2);

}  // namespace starling::copies
