// gossip/broadcast_queue.h — piggybacked dissemination with a retransmit limit (SWIM §4.4,
// memberlist's TransmitLimitedQueue). Pure data structure; no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace starling::gossip {

// Holds encoded messages waiting to be piggybacked. Items sent fewer times go first, newer before
// older among equals. A queued item replaces any older item under the same key (a newer fact
// about the same node invalidates the old one).
class BroadcastQueue {
 public:
  // REQUIRES: max_items > 0. Beyond max_items the most-transmitted items are dropped.
  explicit BroadcastQueue(size_t max_items) : max_items_(max_items) {}

  void Queue(std::string key, std::string item);

  // Takes items whose encoded size plus `per_item_overhead` fit in `budget_bytes`, counting one
  // transmission for each; an item sent `transmit_limit` times is removed. Returns copies.
  std::vector<std::string> Take(size_t budget_bytes, size_t per_item_overhead, int transmit_limit);

  // How many times the item under `key` was sent; -1 when it is not queued (never, or done).
  int Transmits(const std::string& key) const;

  bool empty() const { return ordered_.empty(); }
  size_t size() const { return ordered_.size(); }

 private:
  // Ordered by (transmits ascending, newest first).
  using Order = std::pair<int, uint64_t>;
  struct Entry {
    std::string key;
    std::string item;
    Order order;
  };
  static Order MakeOrder(int transmits, uint64_t id) { return {transmits, UINT64_MAX - id}; }
  void Erase(std::map<Order, Entry>::iterator it);

  size_t max_items_;
  uint64_t next_id_ = 0;
  std::map<Order, Entry> ordered_;
  // Lookup only, never iterated. Map nodes keep their address when re-keyed through
  // extract/insert, so these pointers stay valid while the entry is queued.
  std::unordered_map<std::string, Entry*> by_key_;
};

}  // namespace starling::gossip
