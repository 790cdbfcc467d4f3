// src/agent/events.h — the decisions and state changes a node made, kept (the newest
// kEventsKept) for `starling events` and for tests, which read their fields rather than their
// sentences. Every event has: seq (this node's counter), at_ms (wall clock), node, kind, site,
// text (a sentence for people); and per kind:
//
//   site.scale          count, was, why        the coordinator changed the desired count
//   site.unstartable    version                its newest image has no start command
//   copy.start          copy, count, in_view   this node starts a copy (placement chose it)
//   copy.start_failed   copy, error            it did not start (no port, the driver refused)
//   copy.serving        copy, port, ms         its port answered, ms after its start
//   copy.gone           copy, output           its process exited; the end of its output
//   copy.start_timeout  copy, seconds, output  its port did not answer by the site's
//   start_timeout_s copy.stop           copy, reason           this node stops it (why, in a few
//   words) copy.drained        copy, balancers, confirmed, outcome   the balancers' drain before a
//   stop copy.stopped        copy, error?           it is stopped and cleaned up copy.leftover copy
//   a copy an earlier run of this node left, stopped node.holding        why                    it
//   starts and stops no copies (not heard enough) node.deciding                              it
//   decides again
//
// Threading: io thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace starling::agent {

inline constexpr size_t kEventsKept = 1000;

struct EventRecord {
  std::string kind;
  std::string site;
  nlohmann::json fields = nlohmann::json::object();  // the kind's own fields
  std::string text;
};

class Events {
 public:
  Events(std::string node, std::function<int64_t()> wall_ms)
      : node_(std::move(node)), wall_ms_(std::move(wall_ms)) {}
  // Records (and logs) one event.
  void Add(EventRecord event);
  // Events after `after`, oldest first: each an object of the fields above.
  nlohmann::json Json(uint64_t after) const;

 private:
  std::string node_;
  std::function<int64_t()> wall_ms_;
  std::deque<std::pair<uint64_t, nlohmann::json>> events_;
  uint64_t next_ = 1;
};

}  // namespace starling::agent
