#include "gossip/broadcast_queue.h"

namespace starling::gossip {

void BroadcastQueue::Queue(std::string key, std::string item) {
  if (auto it = by_key_.find(key); it != by_key_.end()) {
    ordered_.erase(it->second);
    by_key_.erase(it);
  }
  const Order order = MakeOrder(0, next_id_++);
  by_key_.emplace(key, order);
  ordered_.emplace(order, Entry{std::move(key), std::move(item)});
  while (ordered_.size() > max_items_) {
    auto last = std::prev(ordered_.end());
    by_key_.erase(last->second.key);
    ordered_.erase(last);
  }
}

std::vector<std::string> BroadcastQueue::Take(size_t budget_bytes, size_t per_item_overhead,
                                              int transmit_limit) {
  std::vector<std::string> taken;
  std::vector<std::pair<Order, Entry>> resend;
  for (auto it = ordered_.begin(); it != ordered_.end();) {
    const size_t cost = it->second.item.size() + per_item_overhead;
    if (budget_bytes < per_item_overhead + 1) break;
    if (cost > budget_bytes) {
      ++it;
      continue;
    }
    budget_bytes -= cost;
    taken.push_back(it->second.item);
    const int transmits = it->first.first + 1;
    Entry entry = std::move(it->second);
    const uint64_t id = UINT64_MAX - it->first.second;
    it = ordered_.erase(it);
    if (transmits >= transmit_limit) {
      by_key_.erase(entry.key);
    } else {
      resend.emplace_back(MakeOrder(transmits, id), std::move(entry));
    }
  }
  for (auto& [order, entry] : resend) {
    by_key_[entry.key] = order;
    ordered_.emplace(order, std::move(entry));
  }
  return taken;
}

int BroadcastQueue::Transmits(const std::string& key) const {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? -1 : it->second.first;
}

}  // namespace starling::gossip
