// src/copies/id_range.h — which host uids and gids a site's copies run as (docs/SECURITY.md):
// each copy has a user namespace whose root is the first id of its site's range, 65,536 ids
// long, from 2^24 up — far above any user of the host and the usual subordinate ranges
// (/etc/subuid starts at 100,000). A site's slot comes from its name; on one node, a slot another
// site's copy holds is passed over, so two sites' copies on a node never share ids.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace starling::copies {

inline constexpr uint32_t kIdFirst = 1u << 24;
inline constexpr uint32_t kIdRange = 65536;
inline constexpr uint32_t kIdSlots = 32768;  // up to 2^24 + 2^31, below uid_t's reserved top

// The first id of `site`'s range, given the ranges this node's copies hold now (first id → the
// site holding it).
uint32_t ChooseIdBase(const std::string& site, const std::map<uint32_t, std::string>& taken);
// Its name's own slot, the same on every node, or 0 when another site's copy holds it here. A
// site whose copies share files on the volume needs the same ids on every worker (the files'
// owner); such a copy does not start beside a site that holds its slot.
uint32_t HomeIdBase(const std::string& site, const std::map<uint32_t, std::string>& taken);

}  // namespace starling::copies
