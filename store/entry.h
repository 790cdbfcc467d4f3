// store/entry.h — what the replicated state log is made of (DESIGN.md §5).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "store/hlc.h"

namespace starling::store {

// Each node's store appends to its own log, named "<node>/<store id>". A store made afresh (a new
// node, a wiped disk) gets a new id, so no two lives of a name ever reuse a sequence number.
using Origin = std::string;

struct Entry {
  Origin origin;
  uint64_t seq = 0;  // 1, 2, 3, ... within the origin
  Hlc hlc = 0;       // strictly increasing within the origin
  std::string key;
  std::string value;
  bool tombstone = false;  // a delete: kept as the key's winner so older writes stay dead

  bool operator==(const Entry&) const = default;
};

// Per key, the entry with the greatest (hlc, origin) wins. Within an origin the clock strictly
// increases with the sequence, so (hlc, origin) names one entry.
inline bool Wins(const Entry& a, const Entry& b) {
  return std::tie(a.hlc, a.origin, a.seq) > std::tie(b.hlc, b.origin, b.seq);
}

// Origin -> highest contiguous sequence held. Ordered, so encodings are deterministic.
using Digest = std::map<Origin, uint64_t>;

inline uint64_t HeadOf(const Digest& digest, const Origin& origin) {
  auto it = digest.find(origin);
  return it == digest.end() ? 0 : it->second;
}

// Keys are printable ASCII paths: 1–512 bytes of [A-Za-z0-9._/:-].
bool IsValidKey(std::string_view key);

inline constexpr size_t kMaxValueBytes = 256 * 1024;

}  // namespace starling::store
