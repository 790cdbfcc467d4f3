// src/copies/cgroup.h — what the kernel's cgroups say about one copy: its threads, how many of
// them are runnable (the input of its load average, src/rules/load_average.h) and the CPU time
// it used. Works on cgroup v1, v2 and hybrid hosts (v1 controllers beside a v2 mount), which is
// where runc puts a container's cgroup when given a cgroups path.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace starling::copies {

enum class CgroupMode : uint8_t { kNone, kV1, kV2, kHybrid };
std::string_view CgroupModeName(CgroupMode mode);

// Where the controllers this code reads are mounted.
struct CgroupLayout {
  CgroupMode mode = CgroupMode::kNone;
  std::string cpu;      // v1: the cpu controller's mount; v2: the unified mount
  std::string cpuacct;  // v1: the cpuacct controller's mount (often the same as cpu)
  std::string unified;  // v2 and hybrid: the cgroup2 mount; empty on pure v1
  // Detects the layout from the mount table (/proc/self/mounts).
  static CgroupLayout Detect();
  // The threads of the cgroup at `path` (e.g. "/starling/site-1-3"), by the mode's file.
  Result<std::vector<pid_t>> Threads(std::string_view path) const;
  // CPU time the cgroup used, in microseconds.
  Result<uint64_t> CpuMicros(std::string_view path) const;
};

// The scheduler state letter of a /proc/<pid>/stat line ('R', 'S', 'D', ...), or 0 if the line
// is malformed. The command name may hold spaces and parentheses: the state follows the last ')'.
char ParseStatState(std::string_view stat_line);

// How many of `threads` are runnable or in uninterruptible sleep ('R' or 'D': what the kernel's
// load average counts). Threads that have exited meanwhile are not counted.
uint32_t CountRunnable(const std::vector<pid_t>& threads);

}  // namespace starling::copies
