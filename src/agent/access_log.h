// src/agent/access_log.h — follows nginx's access log as it grows, across rotations: a renamed
// file is read to its end before the new one is opened and read from its start; a truncated one
// is read again from its start (noticed while it is shorter than what was read: a copytruncate
// that regrows past that between two polls loses its first lines — Starling rotates by rename).
// Complete lines only (a partial last line waits for the rest). Not thread-safe: one owner polls
// it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <string>
#include <vector>

#include "src/balancer/access_log.h"

namespace starling::agent {

class AccessLogTailer {
 public:
  // `from_end`: the first file opened is followed from its current end (what an earlier run
  // already counted is not counted again); files opened after a rotation are read whole.
  explicit AccessLogTailer(std::string path, bool from_end = true);
  ~AccessLogTailer();
  AccessLogTailer(const AccessLogTailer&) = delete;
  AccessLogTailer& operator=(const AccessLogTailer&) = delete;

  // The lines appended since the last call.
  std::vector<std::string> Poll();
  uint64_t rotations() const { return rotations_; }  // any thread

 private:
  bool Open(bool at_end);
  void ReadToEnd(std::vector<std::string>* lines);

  std::string path_;
  bool from_end_;
  int fd_ = -1;
  dev_t device_ = 0;
  ino_t inode_ = 0;
  off_t offset_ = 0;
  std::atomic<uint64_t> rotations_{0};
  balancer::LineSplitter splitter_;
};

}  // namespace starling::agent
