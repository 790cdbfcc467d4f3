// base/names.h — the one rule for node names, shared by membership (gossip/), the state log's
// origins (store/) and the agent's configuration: 1–64 characters of [A-Za-z0-9._-].
#pragma once

#include <string_view>

namespace starling {

inline bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace starling
