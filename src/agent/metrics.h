// src/agent/metrics.h — one sample line of the Prometheus text format that /metrics serves.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace starling::agent {

// Appends `name{labels} value` (no braces without labels) and a newline to `out`.
inline void AppendMetric(std::string* out, std::string_view name, std::string_view labels,
                         uint64_t value) {
  *out += name;
  if (!labels.empty()) {
    *out += '{';
    *out += labels;
    *out += '}';
  }
  *out += ' ';
  *out += std::to_string(value);
  *out += '\n';
}

}  // namespace starling::agent
