// src/balancer/access_log.h — nginx's JSON access log (the `starling` log_format of nginx.cc),
// line by line, into per-site traffic totals: what metering and statistics read (DESIGN.md §9,
// §12). Pure: the agent's tailer (src/agent/access_log.h) feeds it the bytes it reads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace starling::balancer {

struct AccessRecord {
  std::string site;  // empty: no site matched the host
  int status = 0;
  uint64_t bytes = 0;
  double request_time_s = 0;
  int upstream_tries = 0;  // copies nginx tried ("a:1, b:2" is 2); 0 when none was
};

// One log line; an error (and nothing else) for a line that is not one of ours.
Result<AccessRecord> ParseAccessLine(std::string_view line);

struct SiteTraffic {
  uint64_t requests = 0;
  uint64_t bytes = 0;
  uint64_t status[6] = {};  // by class: [2] 2xx … [5] 5xx ([0] anything else)
  uint64_t retried = 0;     // requests nginx sent to more than one copy
  double request_time_s = 0;
};

// Complete lines out of a byte stream that arrives in pieces (a partial last line waits).
class LineSplitter {
 public:
  // Appends `bytes`; the complete lines so far, without their newlines.
  std::vector<std::string> Feed(std::string_view bytes);
  size_t pending() const { return partial_.size(); }

 private:
  std::string partial_;
};

// Per-site totals of the lines fed; malformed lines are counted and skipped.
class TrafficTotals {
 public:
  void Add(std::string_view line);
  const std::map<std::string, SiteTraffic>& sites() const { return sites_; }
  uint64_t malformed() const { return malformed_; }

 private:
  std::map<std::string, SiteTraffic> sites_;
  uint64_t malformed_ = 0;
};

}  // namespace starling::balancer
