// src/copies/log_read.h — reading a copy's output for `starling logs`: its end, or what came
// after a position a follower has seen. Positions are byte offsets in the log file; only whole
// lines are returned (a line still being written waits for its newline). When the log was
// rotated since (src/copies/log_bound.h: it is then shorter than the position), reading starts
// again from the log's beginning: lines that went to "<log>.1" in between are not repeated.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace starling::copies {

struct LogLines {
  std::vector<std::string> lines;
  uint64_t end = 0;        // the log's position after the last line returned: the next `after`
  bool restarted = false;  // the log was rotated since the position asked for
  uint64_t skipped = 0;    // bytes passed over because more came than one answer holds
};

// The last `count` whole lines of `log` (after its rotated half, `log`.1, when the log alone has
// fewer), reading at most `max_bytes` of each file.
LogLines LastLogLines(const std::filesystem::path& log, size_t count,
                      uint64_t max_bytes = 256 << 10);

// The whole lines written to `log` after position `after`, at most `max_bytes` of them (the
// newest, when more came).
LogLines LogLinesAfter(const std::filesystem::path& log, uint64_t after,
                       uint64_t max_bytes = 256 << 10);

}  // namespace starling::copies
