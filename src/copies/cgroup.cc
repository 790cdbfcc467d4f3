#include "src/copies/cgroup.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include "base/file.h"

namespace starling::copies {

std::string_view CgroupModeName(CgroupMode mode) {
  switch (mode) {
    case CgroupMode::kNone:
      return "none";
    case CgroupMode::kV1:
      return "v1";
    case CgroupMode::kV2:
      return "v2";
    case CgroupMode::kHybrid:
      return "hybrid";
  }
  return "unknown";
}

CgroupLayout CgroupLayout::Detect() {
  CgroupLayout layout;
  std::ifstream mounts("/proc/self/mounts");
  std::string device, point, type, options, rest;
  std::string& unified = layout.unified;
  while (mounts >> device >> point >> type >> options && std::getline(mounts, rest)) {
    if (type == "cgroup2") {
      unified = point;
      continue;
    }
    if (type != "cgroup") continue;
    std::stringstream list(options);
    for (std::string option; std::getline(list, option, ',');) {
      if (option == "cpu") layout.cpu = point;
      if (option == "cpuacct") layout.cpuacct = point;
    }
  }
  if (!layout.cpu.empty()) {
    layout.mode = unified.empty() ? CgroupMode::kV1 : CgroupMode::kHybrid;
  } else if (!unified.empty()) {
    layout.mode = CgroupMode::kV2;
    layout.cpu = layout.cpuacct = unified;
  }
  return layout;
}

Result<std::vector<pid_t>> CgroupLayout::Threads(std::string_view path) const {
  if (mode == CgroupMode::kNone) return Status::Unavailable("no cgroup file system mounted");
  const std::string file =
      cpu + std::string(path) + (mode == CgroupMode::kV2 ? "/cgroup.threads" : "/tasks");
  auto text = ReadFile(file);
  if (!text.ok()) return text.status();
  std::vector<pid_t> threads;
  std::stringstream lines(*text);
  for (long tid; lines >> tid;) threads.push_back(static_cast<pid_t>(tid));
  return threads;
}

Result<uint64_t> CgroupLayout::CpuMicros(std::string_view path) const {
  if (mode == CgroupMode::kNone) return Status::Unavailable("no cgroup file system mounted");
  if (mode == CgroupMode::kV2) {
    auto text = ReadFile(cpu + std::string(path) + "/cpu.stat");
    if (!text.ok()) return text.status();
    std::stringstream lines(*text);
    std::string key;
    for (uint64_t value; lines >> key >> value;) {
      if (key == "usage_usec") return value;
    }
    return Status::Corruption("no usage_usec in cpu.stat of " + std::string(path));
  }
  auto text = ReadFile(cpuacct + std::string(path) + "/cpuacct.usage");
  if (!text.ok()) return text.status();
  uint64_t nanoseconds = 0;
  const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), nanoseconds);
  if (error != std::errc()) {
    return Status::Corruption("unreadable cpuacct.usage of " + std::string(path));
  }
  return nanoseconds / 1000;
}

char ParseStatState(std::string_view stat_line) {
  const size_t close = stat_line.rfind(')');
  if (close == std::string_view::npos || close + 2 >= stat_line.size()) return 0;
  if (stat_line[close + 1] != ' ') return 0;
  return stat_line[close + 2];
}

uint32_t CountRunnable(const std::vector<pid_t>& threads) {
  uint32_t runnable = 0;
  for (pid_t tid : threads) {
    std::ifstream in("/proc/" + std::to_string(tid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) continue;  // gone meanwhile
    const char state = ParseStatState(line);
    runnable += state == 'R' || state == 'D';
  }
  return runnable;
}

}  // namespace starling::copies
