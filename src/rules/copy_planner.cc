#include "src/rules/copy_planner.h"

#include <fmt/format.h>

#include <algorithm>

#include "src/rules/rollout.h"

namespace starling::rules {

std::vector<Decision> PlanRound(Instant now, const RoundView& view,
                                const std::vector<Decider>& deciders,
                                const AutoscaleOptions& options,
                                const std::vector<std::string>* coordinators) {
  std::vector<Decision> decisions;
  std::vector<std::string> computed;
  if (coordinators == nullptr) {
    std::vector<std::string> alive;
    alive.reserve(view.workers.size());
    for (const WorkerView& worker : view.workers) alive.push_back(worker.name);
    for (const SiteView& site : view.sites) computed.push_back(Coordinator(site.name, alive));
    coordinators = &computed;
  }
  auto decider_of = [&](std::string_view node) -> const Decider* {
    for (const Decider& decider : deciders) {
      if (decider.name == node) return &decider;
    }
    return nullptr;
  };
  std::map<std::string_view, size_t> site_index;
  for (size_t s = 0; s < view.sites.size(); ++s) site_index.emplace(view.sites[s].name, s);
  for (const Decider& decider : deciders) {
    // Autoscalers of sites this node no longer coordinates (or that are gone) are dropped.
    std::erase_if(*decider.autoscalers, [&](const auto& entry) {
      auto it = site_index.find(entry.first);
      return it == site_index.end() || (*coordinators)[it->second] != decider.name;
    });
  }
  for (size_t s = 0; s < view.sites.size(); ++s) {
    const SiteView& site = view.sites[s];
    uint32_t desired = site.desired;
    if (const Decider* coordinator = decider_of((*coordinators)[s])) {
      Autoscaler& scaler = coordinator->autoscalers->try_emplace(site.name, options).first->second;
      const ScaleDecision scale = scaler.Round(now, {.min = site.min,
                                                     .max = site.max,
                                                     .up = site.up,
                                                     .down = site.down,
                                                     .desired = desired,
                                                     .loads = site.loads});
      if (scale.changed) {
        decisions.push_back({Decision::Kind::kScale, s, coordinator->name, scale.desired, desired,
                             scale.reason,
                             fmt::format("{} copies of {} (was {}): {}", scale.desired, site.name,
                                         desired, scale.reason)});
      }
    }
    const Placement plan = Place(site.name, desired, view.workers, site.copies);
    for (const std::string& node : plan.start) {
      if (decider_of(node) == nullptr) continue;
      decisions.push_back({Decision::Kind::kStart, s, node, desired,
                           static_cast<uint32_t>(site.copies.size()), "",
                           fmt::format("start {} on {}: {} wanted, {} in view", site.name, node,
                                       desired, site.copies.size())});
    }
    if (!plan.remove.empty() && SafeToStop(plan, site.copies)) {
      for (const std::string& node : plan.remove) {
        if (decider_of(node) == nullptr) continue;
        decisions.push_back({Decision::Kind::kStop, s, node, desired,
                             static_cast<uint32_t>(site.copies.size()), "",
                             fmt::format("stop {} on {}: {} wanted, the chosen copies serve",
                                         site.name, node, desired)});
      }
    }
    const RolloutStep rollout = PlanRollout(site, view.workers);
    const auto current = static_cast<uint32_t>(rollout.current);
    const auto outdated = static_cast<uint32_t>(rollout.outdated);
    for (const std::string& node : rollout.replace) {
      if (decider_of(node) == nullptr) continue;
      decisions.push_back({Decision::Kind::kReplace, s, node, current, outdated, "",
                           fmt::format("replace {}'s copy on {}: {} of {} on the new release",
                                       site.name, node, current, current + outdated)});
    }
    for (const std::string& node : rollout.retire) {
      if (decider_of(node) == nullptr) continue;
      decisions.push_back(
          {Decision::Kind::kRetire, s, node, current, outdated, "",
           fmt::format("retire {}'s outdated copy on {}: its new copy serves", site.name, node)});
    }
  }
  return decisions;
}

}  // namespace starling::rules
