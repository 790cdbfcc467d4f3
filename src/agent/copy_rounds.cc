// A round of the copy rules on this node (src/agent/copies.h): the view from the state log and
// gossip, the releases sites should run, and acting on the decisions that name this node.
#include <spdlog/spdlog.h>

#include "src/agent/copies.h"
#include "src/state/keys.h"

namespace starling::agent {

using json = nlohmann::json;
using rules::CopyState;

std::map<std::string, sites::ReleaseState> CopyService::ReadReleases(
    const std::map<std::string, const sites::Site*>& specs) {
  std::map<std::string, std::vector<std::string>> kept;  // site: versions, newest push first
  for (const auto& record : images_->Records("")) kept[record.site].push_back(record.version);
  std::vector<store::Entry> entries;
  std::map<std::string, sites::Release> stored;
  if (log_->Scan(keys::kRelease, &entries).ok()) {
    for (const auto& [key, release] : releases_.Update(entries)) {
      stored.emplace(key.substr(keys::kRelease.size()), *release);
    }
  }
  entries.clear();
  std::map<std::string, sites::RolloutFailure> failures;  // the stopped rollouts, by site
  if (log_->Scan(keys::kRollout, &entries).ok()) {
    for (const auto& [key, failure] : failures_.Update(entries)) {
      failures.emplace(key.substr(keys::kRollout.size()), *failure);
    }
  }
  auto find = [](const auto& map, const std::string& site) {
    auto it = map.find(site);
    return it == map.end() ? std::nullopt : std::optional(it->second);
  };
  std::map<std::string, sites::ReleaseState> out;
  for (const auto& [site, versions] : kept) {
    auto spec = specs.find(site);
    if (spec == specs.end()) continue;  // a site's image outlives it a moment: nothing runs it
    auto state = sites::Resolve(find(stored, site), versions, find(failures, site), *spec->second);
    if (state) out.emplace(site, std::move(*state));
  }
  return out;
}

void CopyService::Plan(const std::vector<rules::MemberReport>& alive) {
  const Instant now = hooks_.now();
  std::vector<store::Entry> entries;
  if (!log_->Scan(sites::kKeyPrefix, &entries).ok()) return;
  const auto sites = sites_.Update(entries);  // valid until the next Update (this round's)
  std::map<std::string, const sites::Site*> specs;
  for (const auto& [key, site] : sites) specs.emplace(site->name, site);
  // What copies here may run is written out ahead, so a start waits on no disk work.
  const auto releases = ReadReleases(specs);
  std::set<std::pair<std::string, std::string>> wanted;
  for (const auto& [site, release] : releases) {
    wanted.emplace(site, release.release.version);
    wanted.emplace(site, release.start_version);
  }
  images_->SetWanted(std::move(wanted));
  const std::string why_not = hooks_.standing ? rules::WhyNotDecide(hooks_.standing()) : "";
  if (why_not != holding_) {
    events_.Add(why_not.empty() ? EventRecord{"node.deciding", "", {}, "decides on copies again"}
                                : EventRecord{"node.holding",
                                              "",
                                              {{"why", why_not}},
                                              "starts and stops no copies: " + why_not});
    holding_ = why_not;
  }
  if (!why_not.empty()) return;
  rules::RoundInput input;
  input.self = config_.node_name;
  entries.clear();
  if (log_->Scan(keys::kDrain, &entries).ok()) {
    for (const auto& entry : entries) {
      if (!entry.tombstone) input.draining.insert(entry.key.substr(keys::kDrain.size()));
    }
  }
  entries.clear();
  if (!log_->Scan(keys::kDesired, &entries).ok()) return;
  std::map<std::string, uint32_t, std::less<>> desired;  // owns its keys: Update's are temporaries
  for (const auto& [key, count] : desired_.Update(entries)) {
    desired.emplace(key.substr(keys::kDesired.size()), *count);
  }
  std::set<std::string> known;
  for (const auto& [key, site] : sites) {
    auto count = desired.find(site->name);
    auto release = releases.find(site->name);
    input.sites.push_back({.name = site->name,
                           .min = site->min_copies,
                           .max = site->max_copies,
                           .up = site->up,
                           .down = site->down,
                           .desired = count != desired.end() ? count->second : site->min_copies,
                           .release = release != releases.end() ? release->second.tag : 0,
                           .rollout_stopped = release != releases.end() && release->second.stopped,
                           .surge = site->surge});
    limits_[site->name] = {site->memory_mb, site->pids, Seconds(site->start_timeout_s)};
    known.insert(site->name);
  }
  input.members = alive;
  input.own.emplace();
  for (const auto& [id, copy] : copies_) {
    input.own->push_back({copy.site, copy.state, copy.load.value(), copy.release});
  }
  const rules::RoundView view = rules::BuildRoundView(input);
  serving_releases_.clear();
  for (const rules::SiteView& site : view.sites) {
    for (const rules::CopyView& copy : site.copies) {
      if (copy.state == CopyState::kServing) serving_releases_[site.name].insert(copy.release);
    }
  }
  Act(view,
      rules::PlanRound(now, view, {{config_.node_name, &autoscalers_}}, config_.copies.autoscale),
      releases);
  // Copies of sites that no longer exist stop.
  std::vector<std::pair<std::string, std::string>> orphans;  // id, site
  for (const auto& [id, copy] : copies_) {
    if (!copy.busy && !known.contains(copy.site)) orphans.emplace_back(id, copy.site);
  }
  for (const auto& [id, site] : orphans) {
    Stop(id, {"copy.stop", site, {{"reason", "site deleted"}}, "the site was deleted"});
  }
}

void CopyService::Act(const rules::RoundView& view, const std::vector<rules::Decision>& decisions,
                      const std::map<std::string, sites::ReleaseState>& releases) {
  // This node's copies of a site that `keep` holds for, not busy (a start or stop runs).
  auto copies_of = [&](const std::string& site, auto keep) {
    std::vector<std::string> ids;
    for (const auto& [id, copy] : copies_) {
      if (copy.site == site && !copy.busy && keep(copy)) ids.push_back(id);
    }
    return ids;
  };
  for (const rules::Decision& decision : decisions) {
    const rules::SiteView& site = view.sites[decision.site];
    auto release = releases.find(site.name);
    switch (decision.kind) {
      case rules::Decision::Kind::kScale:
        log_->WriteLocal(keys::Desired(site.name),
                         json{{"count", decision.count},
                              {"by", config_.node_name},
                              {"reason", decision.reason},
                              {"at_ms", hooks_.wall_ms()}}
                             .dump(),
                         false);
        events_.Add({"site.scale",
                     site.name,
                     {{"count", decision.count}, {"was", decision.was}, {"why", decision.why}},
                     decision.reason});
        break;
      case rules::Decision::Kind::kStart:
        if (!HasCopyOf(site.name) && release != releases.end()) {
          Start(site, decision, release->second, /*replacing=*/false);
        }
        break;
      case rules::Decision::Kind::kStop:
        for (const auto& id : copies_of(site.name, [](const Copy&) { return true; })) {
          Stop(id, {"copy.stop", site.name, {{"reason", "not chosen"}}, decision.reason});
        }
        break;
      case rules::Decision::Kind::kReplace: {
        if (release == releases.end()) break;
        const uint64_t tag = release->second.tag;
        const bool has_new = std::any_of(copies_.begin(), copies_.end(), [&](const auto& entry) {
          return entry.second.site == site.name && entry.second.release == tag &&
                 entry.second.state != CopyState::kFailed;
        });
        if (!has_new) Start(site, decision, release->second, /*replacing=*/true);
        break;
      }
      case rules::Decision::Kind::kRetire: {
        if (release == releases.end()) break;
        const uint64_t tag = release->second.tag;
        for (const auto& id : copies_of(site.name, [&](const Copy& copy) {
               return copy.release != tag &&
                      (copy.state == CopyState::kServing || copy.state == CopyState::kStarting);
             })) {
          Stop(id, {"copy.stop", site.name, {{"reason", "retired"}}, decision.reason});
        }
        break;
      }
    }
  }
}

}  // namespace starling::agent
