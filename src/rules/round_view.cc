#include "src/rules/round_view.h"

#include <algorithm>
#include <map>

namespace starling::rules {

RoundView BuildRoundView(const RoundInput& input) {
  RoundView view;
  std::vector<const SiteSpec*> sites;
  for (const SiteSpec& site : input.sites) sites.push_back(&site);
  std::sort(sites.begin(), sites.end(),
            [](const SiteSpec* a, const SiteSpec* b) { return a->name < b->name; });
  std::map<std::string_view, size_t> site_index;
  for (const SiteSpec* site : sites) {
    site_index.emplace(site->name, view.sites.size());
    view.sites.push_back({.name = site->name,
                          .min = site->min,
                          .max = site->max,
                          .up = site->up,
                          .down = site->down,
                          .desired = site->desired,
                          .release = site->release,
                          .rollout_stopped = site->rollout_stopped,
                          .surge = site->surge});
  }
  std::vector<const MemberReport*> members;
  for (const MemberReport& member : input.members) {
    if (member.worker) members.push_back(&member);
  }
  std::sort(members.begin(), members.end(),
            [](const MemberReport* a, const MemberReport* b) { return a->name < b->name; });
  for (const MemberReport* member : members) {
    const bool self = member->name == input.self && input.own.has_value();
    const std::vector<CopyReport>& copies = self ? *input.own : member->copies;
    const auto running = static_cast<uint32_t>(copies.size());
    view.workers.push_back({member->name,
                            member->capacity > running ? member->capacity - running : 0,
                            !input.draining.contains(member->name)});
    for (const CopyReport& copy : copies) {
      auto it = site_index.find(copy.site);
      if (it == site_index.end()) continue;
      SiteView& site = view.sites[it->second];
      site.copies.push_back({member->name, copy.state, copy.release});
      if (copy.state == CopyState::kServing) site.loads.push_back(copy.load);
    }
  }
  return view;
}

}  // namespace starling::rules
