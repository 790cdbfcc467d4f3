#include "src/copies/id_range.h"

namespace starling::copies {

namespace {

uint32_t HomeSlot(const std::string& site) {
  uint32_t hash = 2166136261u;  // FNV-1a: the same slot for a name on every node and build
  for (unsigned char c : site) hash = (hash ^ c) * 16777619u;
  return hash % kIdSlots;
}

}  // namespace

uint32_t HomeIdBase(const std::string& site, const std::map<uint32_t, std::string>& taken) {
  const uint32_t base = kIdFirst + HomeSlot(site) * kIdRange;
  auto holder = taken.find(base);
  return holder == taken.end() || holder->second == site ? base : 0;
}

uint32_t ChooseIdBase(const std::string& site, const std::map<uint32_t, std::string>& taken) {
  uint32_t slot = HomeSlot(site);
  for (uint32_t tried = 0; tried < kIdSlots; ++tried, slot = (slot + 1) % kIdSlots) {
    const uint32_t base = kIdFirst + slot * kIdRange;
    auto holder = taken.find(base);
    if (holder == taken.end() || holder->second == site) return base;
  }
  return kIdFirst;  // every slot taken (32,768 sites' copies on one node): unreachable
}

}  // namespace starling::copies
