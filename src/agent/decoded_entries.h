// src/agent/decoded_entries.h — decodes state-log entries once. An entry is immutable once
// written — (origin, seq) names it — so a scan that returns an entry seen before reuses what it
// decoded to. The copy rules read every site and every desired count many times a second (on
// every change of the log): decoding 200 sites each time was milliseconds of the io thread.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/entry.h"

namespace starling::agent {

template <typename T>
class DecodedEntries {
 public:
  // `decode` turns an entry's value into a T, or nullopt when it does not decode (skipped).
  explicit DecodedEntries(std::function<std::optional<T>(const std::string& value)> decode)
      : decode_(std::move(decode)) {}

  // The decoded live entries of `entries` (one scan's result, in key order), by key; keys that
  // are gone or deleted are forgotten.
  std::vector<std::pair<std::string, const T*>> Update(const std::vector<store::Entry>& entries) {
    std::map<std::string, Cached> next;
    std::vector<std::pair<std::string, const T*>> out;
    for (const store::Entry& entry : entries) {
      if (entry.tombstone) continue;
      auto it = cache_.find(entry.key);
      Cached cached;
      if (it != cache_.end() && it->second.origin == entry.origin && it->second.seq == entry.seq) {
        cached = std::move(it->second);
      } else {
        cached = {entry.origin, entry.seq, decode_(entry.value)};
      }
      auto placed = next.emplace(entry.key, std::move(cached)).first;
      if (placed->second.value) out.emplace_back(entry.key, &*placed->second.value);
    }
    cache_ = std::move(next);  // map nodes move: the pointers handed out stay valid
    return out;
  }

 private:
  struct Cached {
    store::Origin origin;
    uint64_t seq = 0;
    std::optional<T> value;
  };
  std::function<std::optional<T>(const std::string&)> decode_;
  std::map<std::string, Cached> cache_;
};

}  // namespace starling::agent
