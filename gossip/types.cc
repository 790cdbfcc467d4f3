#include "gossip/types.h"

#include <algorithm>

namespace starling::gossip {

std::string Address::ToString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kWorker:
      return "worker";
    case Role::kBalancer:
      return "balancer";
    case Role::kBoth:
      return "both";
  }
  return "unknown";
}

std::string_view MemberStatusName(MemberStatus status) {
  switch (status) {
    case MemberStatus::kAlive:
      return "alive";
    case MemberStatus::kSuspect:
      return "suspect";
    case MemberStatus::kDead:
      return "dead";
    case MemberStatus::kLeft:
      return "left";
  }
  return "unknown";
}

ProfileRef ProfilePool::Intern(const NodeName& name, const Address& address, const NodeMeta& meta) {
  // Length-prefixed fields: no two different profiles share a key, whatever bytes they hold.
  std::string key;
  auto field = [&key](std::string_view value) {
    key.append(std::to_string(value.size())).push_back(':');
    key.append(value);
  };
  field(name);
  field(address.host);
  field(std::to_string(address.port));
  field(std::to_string(static_cast<int>(meta.role)));
  field(std::to_string(meta.capacity));
  field(meta.api_address);
  field(meta.version);
  field(meta.database ? "db" : "");
  std::weak_ptr<const MemberProfile>& slot = pool_[key];
  if (ProfileRef held = slot.lock()) return held;
  auto made = std::make_shared<const MemberProfile>(MemberProfile{name, address, meta});
  slot = made;
  if (pool_.size() >= sweep_at_) {
    std::erase_if(pool_, [](const auto& entry) { return entry.second.expired(); });
    sweep_at_ = std::max<size_t>(64, 2 * pool_.size());
  }
  return made;
}

}  // namespace starling::gossip
