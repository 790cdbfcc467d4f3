// store/codec.h — the state log's messages and stored entries <-> bytes. The only file in store/
// that touches generated Cap'n Proto types. Decoders check every field and never throw.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "store/entry.h"

namespace starling::store {

inline constexpr uint16_t kLogProtocolVersion = 1;
inline constexpr size_t kMaxExchangeBytes = 8 * 1024 * 1024;
inline constexpr size_t kMaxExchangeEntries = 100'000;
inline constexpr size_t kMaxDigestOrigins = 100'000;
inline constexpr size_t kMaxOriginBytes = 200;

struct Exchange {
  std::string sender;  // node name
  Digest digest;
  std::vector<Entry> entries;
  bool more = false;
  bool busy = false;
  bool snapshot = false;
  std::string snapshot_cursor;
  bool snapshot_done = false;
  Digest snapshot_digest;
  bool want_snapshot = false;

  bool operator==(const Exchange&) const = default;
};

std::string EncodeExchange(const Exchange& exchange);
Result<Exchange> DecodeExchange(std::string_view bytes);

// One entry as stored in RocksDB (log and state column families).
std::string EncodeEntry(const Entry& entry);
Result<Entry> DecodeEntry(std::string_view bytes);

// "<node>/<16 hex digits>"; node names follow gossip's rule.
bool IsValidOrigin(std::string_view origin);

}  // namespace starling::store
