#include "gossip/broadcast_queue.h"

namespace starling::gossip {

void BroadcastQueue::Erase(std::map<Order, Entry>::iterator it) {
  by_key_.erase(it->second.key);
  ordered_.erase(it);
}

void BroadcastQueue::Queue(std::string key, std::string item) {
  if (auto it = by_key_.find(key); it != by_key_.end()) Erase(ordered_.find(it->second->order));
  const Order order = MakeOrder(0, next_id_++);
  auto [it, inserted] = ordered_.emplace(order, Entry{key, std::move(item), order});
  by_key_.emplace(std::move(key), &it->second);
  while (ordered_.size() > max_items_) Erase(std::prev(ordered_.end()));
}

std::vector<std::string> BroadcastQueue::Take(size_t budget_bytes, size_t per_item_overhead,
                                              int transmit_limit) {
  std::vector<std::string> taken;
  std::vector<std::map<Order, Entry>::node_type> resend;
  // Items are of similar sizes: after a few that do not fit, the rest will not either, and
  // scanning a long queue for every datagram would cost O(queue) per send.
  constexpr int kMaxMisfits = 8;
  int misfits = 0;
  for (auto it = ordered_.begin(); it != ordered_.end();) {
    if (budget_bytes < per_item_overhead + 1) break;
    const size_t cost = it->second.item.size() + per_item_overhead;
    if (cost > budget_bytes) {
      if (++misfits > kMaxMisfits) break;
      ++it;
      continue;
    }
    budget_bytes -= cost;
    taken.push_back(it->second.item);
    const int transmits = it->first.first + 1;
    if (transmits >= transmit_limit) {
      by_key_.erase(it->second.key);
      it = ordered_.erase(it);
      continue;
    }
    auto next = std::next(it);
    auto node = ordered_.extract(it);
    node.key().first = transmits;
    node.mapped().order = node.key();
    resend.push_back(std::move(node));
    it = next;
  }
  for (auto& node : resend) ordered_.insert(std::move(node));
  return taken;
}

int BroadcastQueue::Transmits(const std::string& key) const {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? -1 : it->second->order.first;
}

}  // namespace starling::gossip
