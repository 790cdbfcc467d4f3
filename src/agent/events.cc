#include "src/agent/events.h"

#include <spdlog/spdlog.h>

namespace starling::agent {

void Events::Add(EventRecord event) {
  spdlog::info("copies: {}", event.text);
  nlohmann::json item = std::move(event.fields);
  item["at_ms"] = wall_ms_();
  item["node"] = node_;
  item["kind"] = std::move(event.kind);
  item["site"] = std::move(event.site);
  item["text"] = std::move(event.text);
  events_.emplace_back(next_++, std::move(item));
  while (events_.size() > kEventsKept) events_.pop_front();
}

nlohmann::json Events::Json(uint64_t after) const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [seq, event] : events_) {
    if (seq <= after) continue;
    nlohmann::json item = event;
    item["seq"] = seq;
    out.push_back(std::move(item));
  }
  return out;
}

}  // namespace starling::agent
