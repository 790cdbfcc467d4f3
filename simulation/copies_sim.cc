#include "simulation/copies_sim.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <numbers>
#include <set>

#include "base/rng.h"
#include "src/rules/copy_planner.h"
#include "src/rules/load_average.h"
#include "src/rules/placement.h"
#include "src/rules/rollout.h"
#include "src/rules/round_view.h"

namespace starling::sim {
namespace {

using rules::CopyState;
constexpr Duration kRound = Seconds(1);

enum class Demand : uint8_t { kSteady, kDiurnal, kSpiky };

struct Site {
  std::string name;
  uint32_t min = 1, max = 6;
  uint64_t release = 1, previous = 0;   // release tags (src/sites/release.h: any nonzero value)
  bool stopped = false;                 // its release's rollout stopped
  Instant rolling_since = kInstantMax;  // a rollout in progress since
  std::set<uint64_t> broken;            // releases whose copies never serve
  Demand kind = Demand::kSteady;
  double base = 1, phase = 0;
  std::vector<std::pair<Instant, Instant>> spikes;
  double spike_height = 0;
};

struct Stamp {
  int64_t micros = -1;
  int node = -1;
  auto operator<=>(const Stamp&) const = default;
};

struct Desired {
  uint32_t count = 1;
  Stamp stamp;
};

struct Copy {
  CopyState state = CopyState::kStarting;
  Instant ready_at{};
  rules::LoadAverage load;
  uint64_t release = 0;
  bool replacing = false;  // started beside an older copy by a rollout
};

// What a node publishes each round (the gossiped load report).
struct Report {
  std::vector<std::tuple<int, CopyState, double, uint64_t>> copies;  // site, state, load, release
  uint32_t free_slots = 0;
};

struct Pending {
  Instant at = kInstantMax;
  bool alive = false;
};

struct Node {
  bool up = true;
  // By site: one copy of a site per node, or two while a rollout replaces it.
  std::multimap<int, Copy> copies;
  std::vector<bool> alive_view;
  std::vector<Pending> pending;  // per other node: a change of alive_view due then
  std::vector<std::shared_ptr<const Report>> reports;  // per node: the last one received
  std::vector<Desired> desired;                        // per site: the log as this node holds it
  std::map<std::string, rules::Autoscaler> scalers;    // sites it coordinates, by name
};

struct Delivery {
  Instant at;
  int site;
  Desired value;
};

class CopiesSim {
 public:
  explicit CopiesSim(const CopiesSimOptions& options) : options_(options), rng_(options.seed) {}

  CopiesReport Run() {
    const auto wall_start = std::chrono::steady_clock::now();
    Setup();
    for (now_ = Instant{}; now_ < Instant{} + options_.duration; now_ += kRound) Round();
    for (size_t s = 0; s < sites_.size(); ++s) {
      if (outage_since_[s] != kInstantMax) EndOutage(s);
      if (excess_since_[s] != kInstantMax) EndExcess(s);
    }
    for (const auto& wait : replacing_) {
      report_.violations.push_back(fmt::format("site {} hit by a crash at {:.0f}s never recovered",
                                               sites_[wait.site].name, Secs(wait.since)));
    }
    report_.seed = options_.seed;
    report_.nodes = options_.nodes;
    report_.sites = options_.sites;
    report_.simulated_seconds = ToSeconds(options_.duration);
    report_.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    return report_;
  }

 private:
  static double Secs(Instant t) { return ToSeconds(t - Instant{}); }

  Duration Between(Duration lo, Duration hi) {
    return lo + Duration(static_cast<int64_t>(
                    rng_.Uniform(static_cast<uint64_t>((hi - lo).count()) + 1)));
  }

  void Setup() {
    const size_t n = options_.nodes;
    for (size_t i = 0; i < n; ++i) names_.push_back(fmt::format("node-{:03}", i + 1));
    for (size_t s = 0; s < options_.sites; ++s) {
      Site site;
      site.name = fmt::format("site-{:03}", s + 1);
      site.min = rng_.Uniform(10) == 0 ? 2 : 1;
      site.max = 4 + static_cast<uint32_t>(rng_.Uniform(5));
      const uint64_t kind = rng_.Uniform(4);
      site.kind = kind < 2 ? Demand::kSteady : kind == 2 ? Demand::kDiurnal : Demand::kSpiky;
      site.base = site.kind == Demand::kSteady    ? 0.2 + rng_.NextDouble() * 5.8
                  : site.kind == Demand::kDiurnal ? 0.5 + rng_.NextDouble() * 3.5
                                                  : 0.2 + rng_.NextDouble() * 1.8;
      site.phase = rng_.NextDouble() * 2 * std::numbers::pi;
      const Duration spike_room = options_.duration - options_.warmup - Seconds(200);
      if (site.kind == Demand::kSpiky && spike_room > Duration::zero()) {
        site.spike_height = 3 + rng_.NextDouble() * 5;
        for (int k = 0, spikes = 2 + static_cast<int>(rng_.Uniform(2)); k < spikes; ++k) {
          const Instant start = Instant{} + options_.warmup + Between(Duration::zero(), spike_room);
          site.spikes.emplace_back(start, start + Between(Seconds(60), Seconds(180)));
        }
      }
      site_number_.emplace(site.name, static_cast<int>(sites_.size()));
      sorted_site_names_.push_back(site.name);
      sites_.push_back(std::move(site));
    }
    std::sort(sorted_site_names_.begin(), sorted_site_names_.end());
    nodes_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      Node& node = nodes_[i];
      node.alive_view.assign(n, true);
      node.pending.assign(n, Pending{});
      node.reports.assign(n, nullptr);
      for (const Site& site : sites_) node.desired.push_back(Desired{.count = site.min});
    }
    side_.assign(n, 0);
    published_.assign(
        n, std::make_shared<const Report>(Report{.free_slots = options_.slots_per_node}));
    outage_since_.assign(sites_.size(), kInstantMax);
    excess_since_.assign(sites_.size(), kInstantMax);
    last_desired_.assign(sites_.size(), Desired{});
    for (size_t s = 0; s < sites_.size(); ++s) last_desired_[s].count = sites_[s].min;
    last_direction_.assign(sites_.size(), 0);
    // Faults: crashes and partitions at seeded times in the fault window.
    for (int k = 0; k < options_.crashes; ++k) {
      faults_.push_back({Instant{} + Between(options_.faults_start, options_.faults_end), 0,
                         static_cast<int>(rng_.Uniform(n))});
    }
    Instant at = Instant{} + options_.faults_start;
    for (int k = 0; k < options_.partitions; ++k) {
      const Duration room = (options_.faults_end - options_.faults_start) / options_.partitions;
      const Instant start = at + Between(Duration::zero(), room - options_.partition_duration);
      faults_.push_back({start, 1, -1});
      faults_.push_back({start + options_.partition_duration, 2, -1});
      at += room;
    }
    std::sort(faults_.begin(), faults_.end(),
              [](const Fault& a, const Fault& b) { return a.at < b.at; });
    const Duration push_room = options_.duration - Seconds(120) - options_.warmup;
    for (int k = 0; k < options_.rollouts && push_room > Duration::zero(); ++k) {
      pushes_.emplace_back(Instant{} + options_.warmup + Between(Duration::zero(), push_room),
                           static_cast<int>(rng_.Uniform(sites_.size())));
    }
    std::sort(pushes_.begin(), pushes_.end());
  }

  bool Reachable(size_t i, size_t j) const {
    return nodes_[i].up && nodes_[j].up && side_[i] == side_[j];
  }

  double DemandOf(const Site& site) const {
    const double t = Secs(now_);
    switch (site.kind) {
      case Demand::kSteady:
        return site.base;
      case Demand::kDiurnal:
        return site.base * (1 + 0.6 * std::sin(2 * std::numbers::pi * t / 1200 + site.phase));
      case Demand::kSpiky: {
        double demand = site.base;
        for (const auto& [from, to] : site.spikes) {
          if (now_ >= from && now_ < to) demand += site.spike_height;
        }
        return demand;
      }
    }
    return 0;
  }

  void SeeLater(size_t observer, size_t subject, bool alive, Duration delay) {
    nodes_[observer].pending[subject] = Pending{now_ + delay, alive};
  }

  void ApplyFaults() {
    while (next_fault_ < faults_.size() && faults_[next_fault_].at <= now_) {
      const Fault fault = faults_[next_fault_++];
      const size_t n = nodes_.size();
      if (fault.kind == 0) {  // a crash (or a restart, queued below)
        Node& node = nodes_[fault.node];
        if (!node.up) continue;
        for (const auto& [site, copy] : node.copies) {
          ++report_.copies_lost;
          replacing_.push_back({site, now_, Serving(site)});
        }
        node.up = false;
        node.copies.clear();
        node.scalers.clear();
        for (size_t i = 0; i < n; ++i) {
          if (i != static_cast<size_t>(fault.node) && nodes_[i].up) {
            SeeLater(i, fault.node, false, Between(options_.detect_min, options_.detect_max));
          }
        }
        if (rng_.NextDouble() < options_.restart_fraction) {
          Fault restart{now_ + options_.restart_delay, 3, fault.node};
          faults_.insert(
              std::upper_bound(faults_.begin() + static_cast<long>(next_fault_), faults_.end(),
                               restart, [](const Fault& a, const Fault& b) { return a.at < b.at; }),
              restart);
        }
      } else if (fault.kind == 3) {  // the crashed node comes back, with no copies
        Node& node = nodes_[fault.node];
        node.up = true;
        for (size_t j = 0; j < n; ++j) {
          node.alive_view[j] = Reachable(fault.node, j) || j == static_cast<size_t>(fault.node);
          node.pending[j] = Pending{};
          node.reports[j] = nullptr;
          if (j != static_cast<size_t>(fault.node) && Reachable(j, fault.node)) {
            SeeLater(j, fault.node, true, kRound);
          }
        }
        for (size_t s = 0; s < sites_.size(); ++s) {  // the log, from whoever it reaches
          for (size_t j = 0; j < n; ++j) {
            if (Reachable(fault.node, j)) {
              node.desired[s] =
                  std::max(node.desired[s], nodes_[j].desired[s],
                           [](const Desired& a, const Desired& b) { return a.stamp < b.stamp; });
            }
          }
        }
      } else if (fault.kind == 1) {  // a partition: a share of the nodes cut off
        partitioned_ = true;
        for (size_t i = 0; i < n; ++i) side_[i] = rng_.NextDouble() < options_.partition_fraction;
        for (size_t i = 0; i < n; ++i) {
          for (size_t j = 0; j < n; ++j) {
            if (i != j && side_[i] != side_[j] && nodes_[i].up) {
              SeeLater(i, j, false, Between(options_.detect_min, options_.detect_max));
            }
          }
        }
      } else {  // the partition heals: members seen alive again, the log merged
        partitioned_ = false;
        for (size_t i = 0; i < n; ++i) {
          for (size_t j = 0; j < n; ++j) {
            if (i != j && side_[i] != side_[j] && nodes_[i].up && nodes_[j].up) {
              SeeLater(i, j, true, kRound);
            }
          }
        }
        side_.assign(n, 0);
        for (size_t s = 0; s < sites_.size(); ++s) {
          Desired best;
          for (const Node& node : nodes_) {
            if (node.up && best.stamp < node.desired[s].stamp) best = node.desired[s];
          }
          deliveries_.push_back({now_ + kRound, static_cast<int>(s), best});
        }
      }
    }
  }

  size_t Serving(int site) const {
    size_t serving = 0;
    for (const Node& node : nodes_) {
      if (!node.up) continue;
      auto [from, to] = node.copies.equal_range(site);
      serving += std::any_of(
          from, to, [](const auto& entry) { return entry.second.state == CopyState::kServing; });
    }
    return serving;
  }

  void Round() {
    ApplyFaults();
    const size_t n = nodes_.size();
    // Views of membership catch up.
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < n; ++j) {
        Pending& pending = nodes_[i].pending[j];
        if (pending.at <= now_) {
          nodes_[i].alive_view[j] = pending.alive;
          pending = Pending{};
        }
      }
    }
    // Copies come up; serving copies carry their share of the demand.
    std::vector<size_t> serving(sites_.size(), 0);
    for (Node& node : nodes_) {
      if (!node.up) continue;
      for (auto it = node.copies.begin(); it != node.copies.end();) {
        auto& [site, copy] = *it;
        if (copy.state == CopyState::kStarting && copy.ready_at <= now_) {
          if (!sites_[site].broken.contains(copy.release)) {
            copy.state = CopyState::kServing;
          } else {
            // It exits before it serves: gone. A replacement's failure stops the rollout, as
            // does any copy's while no copy of its release serves (as the agent's).
            Site& failed = sites_[site];
            if (rules::StopsRollout(copy.replacing, ReleaseServes(site, copy.release)) &&
                copy.release == failed.release && !failed.stopped) {
              failed.stopped = true;
              failed.rolling_since = kInstantMax;
              ++report_.rollouts_stopped;
            }
            it = node.copies.erase(it);
            continue;
          }
        }
        ++it;
      }
      // One serving copy per node counts (a replacement beside its old copy is one place).
      for (size_t s = 0; s < sites_.size(); ++s) {
        auto [from, to] = node.copies.equal_range(static_cast<int>(s));
        serving[s] += std::any_of(
            from, to, [](const auto& entry) { return entry.second.state == CopyState::kServing; });
      }
    }
    Push();
    for (Node& node : nodes_) {
      if (!node.up) continue;
      for (auto& [site, copy] : node.copies) {
        if (copy.state != CopyState::kServing) continue;
        auto [from, to] = node.copies.equal_range(site);
        const auto on_node = std::count_if(from, to, [](const auto& entry) {  // old and new
          return entry.second.state == CopyState::kServing;
        });
        const double share = DemandOf(sites_[site]) / static_cast<double>(serving[site]) /
                             static_cast<double>(on_node);
        const auto whole = static_cast<uint32_t>(share);
        copy.load.Sample(whole + (rng_.NextDouble() < share - whole ? 1 : 0));
      }
    }
    // Reports: everyone reachable receives last round's; the log's writes arrive.
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < n; ++j) {
        if (Reachable(i, j)) nodes_[i].reports[j] = published_[j];
      }
    }
    for (size_t j = 0; j < n; ++j) {
      auto report = std::make_shared<Report>();
      for (const auto& [site, copy] : nodes_[j].copies) {
        report->copies.emplace_back(site, copy.state, copy.load.value(), copy.release);
      }
      report->free_slots = options_.slots_per_node - static_cast<uint32_t>(nodes_[j].copies.size());
      published_[j] = std::move(report);
    }
    Deliver();
    Decide();
    Check(serving);
    CheckRollouts();
  }

  // Whether a copy of `site` on `release` serves on a live node.
  bool ReleaseServes(int site, uint64_t release) const {
    for (const Node& node : nodes_) {
      if (!node.up) continue;
      for (auto [it, to] = node.copies.equal_range(site); it != to; ++it) {
        if (it->second.release == release && it->second.state == CopyState::kServing) return true;
      }
    }
    return false;
  }

  void StartCopy(Node& node, int site, uint64_t release, bool replacing) {
    Copy copy;
    if (replacing) {  // its load average starts from the copy it replaces (as the agent's)
      for (auto [it, to] = node.copies.equal_range(site); it != to; ++it) {
        if (it->second.state == CopyState::kServing) copy.load.StartFrom(it->second.load);
      }
    }
    copy.ready_at = now_ + Between(options_.start_min, options_.start_max);
    copy.release = release;
    copy.replacing = replacing;
    node.copies.emplace(site, std::move(copy));
    ++report_.copies_started;
  }

  // The pushes due this round: each site's new release, broken or not.
  void Push() {
    while (next_push_ < pushes_.size() && pushes_[next_push_].first <= now_) {
      Site& site = sites_[pushes_[next_push_++].second];
      // Over a stopped rollout, the release before stays the one to fall back to (as the
      // agent's push does).
      if (!site.stopped) site.previous = site.release;
      site.release = next_release_++;
      site.stopped = false;
      site.rolling_since = now_;
      if (rng_.NextDouble() < options_.broken_fraction) site.broken.insert(site.release);
      ++report_.rollouts;
    }
  }

  // A rollout is done when every copy of its site on a live node runs the release and serves.
  void CheckRollouts() {
    for (size_t s = 0; s < sites_.size(); ++s) {
      Site& site = sites_[s];
      if (site.rolling_since == kInstantMax) continue;
      size_t copies = 0;
      bool done = true;
      for (const Node& node : nodes_) {
        if (!node.up) continue;
        for (auto [it, to] = node.copies.equal_range(static_cast<int>(s)); it != to; ++it) {
          ++copies;
          done =
              done && it->second.release == site.release && it->second.state == CopyState::kServing;
        }
      }
      if ((!done || copies == 0) && now_ - site.rolling_since > options_.rollout_bound) {
        report_.violations.push_back(fmt::format("the rollout of {} pushed at {:.0f}s is not done",
                                                 site.name, Secs(site.rolling_since)));
        site.rolling_since = kInstantMax;
        continue;
      }
      if (!done || copies == 0) continue;
      report_.rollout.samples.push_back(ToSeconds(now_ - site.rolling_since));
      ++report_.rollouts_done;
      site.rolling_since = kInstantMax;
    }
  }

  void Write(size_t writer, int site, uint32_t count) {
    const Desired value{count, Stamp{(now_ - Instant{}).count(), static_cast<int>(writer)}};
    nodes_[writer].desired[site] = value;
    deliveries_.push_back({now_ + kRound, site, value});
    // The log's value: the newest write wins (what every node converges to).
    if (last_desired_[site].stamp < value.stamp) {
      const int direction = count > last_desired_[site].count ? 1 : -1;
      if (direction > 0)
        ++report_.scale_ups;
      else
        ++report_.scale_downs;
      if (sites_[site].kind == Demand::kSteady && now_ >= Instant{} + options_.warmup &&
          last_direction_[site] != 0 && direction != last_direction_[site]) {
        ++report_.steady_flaps;
        report_.flaps.push_back(fmt::format("{} {} to {} at {:.0f}s (faults {})", sites_[site].name,
                                            direction > 0 ? "up" : "down", count, Secs(now_),
                                            FaultsNear()));
      }
      last_direction_[site] = direction;
      last_desired_[site] = value;
    }
  }

  // The faults in the last two minutes, for the record of a flap.
  std::string FaultsNear() const {
    std::string out;
    for (size_t k = 0; k < next_fault_; ++k) {
      if (now_ - faults_[k].at <= Seconds(120)) {
        out += fmt::format("{}{}@{:.0f}s", out.empty() ? "" : ",",
                           std::array{"crash", "partition", "heal", "restart"}[faults_[k].kind],
                           Secs(faults_[k].at));
      }
    }
    return out.empty() ? "none" : out;
  }

  void Deliver() {
    std::vector<Delivery> later;
    for (size_t k = 0; k < deliveries_.size(); ++k) {
      const Delivery& delivery = deliveries_[k];
      if (delivery.at > now_) {
        later.push_back(delivery);
        continue;
      }
      const int writer = delivery.value.stamp.node;
      for (size_t i = 0; i < nodes_.size(); ++i) {
        if (!nodes_[i].up) continue;
        if (writer >= 0 && !Reachable(i, static_cast<size_t>(writer)) && nodes_[writer].up)
          continue;
        Desired& held = nodes_[i].desired[delivery.site];
        if (held.stamp < delivery.value.stamp) held = delivery.value;
      }
    }
    deliveries_ = std::move(later);
  }

  // Nodes with the same view compute the same plans: computed once per distinct view.
  struct ViewKey {
    std::vector<bool> alive;
    std::vector<const Report*> reports;
    std::vector<uint32_t> desired;
    auto operator<=>(const ViewKey&) const = default;
  };

  void Decide() {
    const size_t n = nodes_.size();
    std::map<ViewKey, std::vector<size_t>> groups;
    for (size_t i = 0; i < n; ++i) {
      if (!nodes_[i].up) continue;
      ViewKey key;
      key.alive = nodes_[i].alive_view;
      for (size_t j = 0; j < n; ++j) key.reports.push_back(nodes_[i].reports[j].get());
      for (const Desired& d : nodes_[i].desired) key.desired.push_back(d.count);
      groups[std::move(key)].push_back(i);
    }
    // In the order of their first member (the keys hold addresses: their order is not the seed's).
    std::vector<std::pair<const ViewKey*, const std::vector<size_t>*>> ordered;
    for (const auto& [key, members] : groups) ordered.emplace_back(&key, &members);
    std::sort(ordered.begin(), ordered.end(),
              [](const auto& a, const auto& b) { return a.second->front() < b.second->front(); });
    for (const auto& [key, members] : ordered) DecideForView(*key, *members);
  }

  void DecideForView(const ViewKey& key, const std::vector<size_t>& members) {
    const size_t n = nodes_.size();
    const size_t self = members.front();  // any member: they see the same
    // The agent's own round input (rules::BuildRoundView), from this view's members.
    rules::RoundInput input;
    input.self = names_[self];
    for (size_t s = 0; s < sites_.size(); ++s) {
      input.sites.push_back({.name = sites_[s].name,
                             .min = sites_[s].min,
                             .max = sites_[s].max,
                             .desired = key.desired[s],
                             .release = sites_[s].release,
                             .rollout_stopped = sites_[s].stopped});
    }
    std::vector<std::string> alive_names;
    for (size_t j = 0; j < n; ++j) {
      if (!key.alive[j] && j != self) continue;
      alive_names.push_back(names_[j]);
      rules::MemberReport member{.name = names_[j], .capacity = options_.slots_per_node};
      if (const Report* report = key.reports[j]) {
        for (const auto& [site, state, load, release] : report->copies) {
          member.copies.push_back({sites_[site].name, state, load, release});
        }
      }
      input.members.push_back(std::move(member));
    }
    const rules::RoundView view = rules::BuildRoundView(input);
    // The view holds sites in name order; decisions name them by their place in it.
    std::vector<int> site_of;
    for (const rules::SiteView& site : view.sites) site_of.push_back(site_number_.at(site.name));
    std::vector<rules::Decider> deciders;
    std::map<std::string_view, size_t> member_index;
    for (size_t m : members) {
      deciders.push_back({names_[m], &nodes_[m].scalers});
      member_index.emplace(names_[m], m);
    }
    const auto decisions =
        rules::PlanRound(now_, view, deciders, options_.autoscale, &Coordinators(alive_names));
    for (const rules::Decision& decision : decisions) {
      const size_t m = member_index.at(decision.node);
      const int s = site_of[decision.site];
      Node& node = nodes_[m];
      switch (decision.kind) {
        case rules::Decision::Kind::kScale:
          // The writer sees its own write now; the others of this view next round.
          Write(m, s, decision.count);
          break;
        case rules::Decision::Kind::kStart: {
          if (node.copies.contains(s)) break;  // it knows its own copies
          if (node.copies.size() >= options_.slots_per_node) break;
          const Site& site = sites_[s];
          // A stopped rollout's site starts on the release before (as the agent does).
          StartCopy(node, s, site.stopped && site.previous != 0 ? site.previous : site.release,
                    false);
          break;
        }
        case rules::Decision::Kind::kStop:
          report_.copies_stopped += node.copies.erase(s);
          break;
        case rules::Decision::Kind::kReplace: {
          auto [from, to] = node.copies.equal_range(s);
          const uint64_t release = sites_[s].release;
          if (std::none_of(from, to, [&](const auto& e) { return e.second.release == release; })) {
            StartCopy(node, s, release, true);
            ++report_.replaced;
          }
          break;
        }
        case rules::Decision::Kind::kRetire: {
          const uint64_t release = sites_[s].release;
          for (auto [it, to] = node.copies.equal_range(s); it != to;) {
            if (it->second.release != release) {
              it = node.copies.erase(it);
              ++report_.copies_stopped;
            } else {
              ++it;
            }
          }
          break;
        }
      }
    }
  }

  // Each site's coordinator among `alive`: the same for every view with the same members.
  const std::vector<std::string>& Coordinators(const std::vector<std::string>& alive) {
    auto it = coordinators_.find(alive);
    if (it != coordinators_.end()) return it->second;
    if (coordinators_.size() > 64) coordinators_.clear();
    std::vector<std::string> by_site;  // in the view's order: by name
    for (const std::string& name : sorted_site_names_) {
      by_site.push_back(rules::Coordinator(name, alive));
    }
    return coordinators_.emplace(alive, std::move(by_site)).first->second;
  }

  // Ends a window of site `s` that began at `*since`: recorded, and a violation past `bound`.
  void EndWindow(size_t s, Instant* since, Distribution* windows, Duration bound,
                 std::string_view what) {
    const Duration length = now_ - *since;
    windows->samples.push_back(ToSeconds(length));
    if (length > bound) {
      report_.violations.push_back(fmt::format("{} {} for {:.0f}s from {:.0f}s", sites_[s].name,
                                               what, ToSeconds(length), Secs(*since)));
    }
    *since = kInstantMax;
  }
  void EndOutage(size_t s) {
    EndWindow(s, &outage_since_[s], &report_.outage, options_.outage_bound, "had no serving copy");
  }
  void EndExcess(size_t s) {
    EndWindow(s, &excess_since_[s], &report_.excess, options_.excess_bound, "above its max");
  }

  void Check(const std::vector<size_t>& serving) {
    double peak = 0;
    for (const Node& node : nodes_) {
      // Sites held per slot: a replacement beside its old copy briefly takes one more core, by
      // design (src/rules/rollout.h), and is not counted here.
      size_t held = 0;
      for (auto it = node.copies.begin(); it != node.copies.end();
           it = node.copies.upper_bound(it->first)) {
        ++held;
      }
      peak = std::max(peak, static_cast<double>(held) / options_.slots_per_node);
    }
    report_.peak_copies_per_slot = std::max(report_.peak_copies_per_slot, peak);
    if (now_ < Instant{} + options_.warmup) return;
    for (size_t s = 0; s < sites_.size(); ++s) {
      // Invariant 2: a serving copy, except for a bounded window.
      if (serving[s] == 0 && outage_since_[s] == kInstantMax) outage_since_[s] = now_;
      if (serving[s] > 0 && outage_since_[s] != kInstantMax) EndOutage(s);
      // Invariant 3: never above max, except for a bounded window after a partition heals.
      size_t running = 0;  // nodes holding it (a replacement beside its old copy is one place)
      for (const Node& node : nodes_)
        running += node.up && node.copies.contains(static_cast<int>(s));
      const bool excess = running > sites_[s].max && !partitioned_;
      if (excess && excess_since_[s] == kInstantMax) excess_since_[s] = now_;
      if (!excess && excess_since_[s] != kInstantMax) EndExcess(s);
    }
    for (auto it = replacing_.begin(); it != replacing_.end();) {
      const size_t want = std::min<size_t>(it->serving_before, last_desired_[it->site].count);
      if (serving[it->site] >= want) {
        report_.replacement.samples.push_back(ToSeconds(now_ - it->since));
        it = replacing_.erase(it);
      } else {
        ++it;
      }
    }
    if (now_ + kRound >= Instant{} + options_.duration) {
      size_t steady = 0;
      for (const Site& site : sites_) steady += site.kind == Demand::kSteady;
      report_.steady_site_hours =
          static_cast<double>(steady) * ToSeconds(options_.duration - options_.warmup) / 3600;
    }
  }

  struct Fault {
    Instant at;
    int kind;  // 0 crash, 1 partition, 2 heal, 3 restart
    int node;
  };
  struct Waiting {
    int site;
    Instant since;
    size_t serving_before;
  };

  CopiesSimOptions options_;
  Rng rng_;
  std::vector<std::pair<Instant, int>> pushes_;  // when, which site
  size_t next_push_ = 0;
  uint64_t next_release_ = 2;
  Instant now_{};
  std::vector<std::string> names_;
  std::map<std::string, int> site_number_;      // site name → its index in sites_
  std::vector<std::string> sorted_site_names_;  // the order of a round view's sites
  std::vector<Site> sites_;
  std::vector<Node> nodes_;
  std::vector<int> side_;
  bool partitioned_ = false;
  std::vector<std::shared_ptr<const Report>> published_;
  std::vector<Delivery> deliveries_;
  std::vector<Fault> faults_;
  size_t next_fault_ = 0;
  std::vector<Instant> outage_since_, excess_since_;
  std::vector<Desired> last_desired_;
  std::vector<int> last_direction_;
  std::vector<Waiting> replacing_;
  std::map<std::vector<std::string>, std::vector<std::string>> coordinators_;
  CopiesReport report_;
};

}  // namespace

Status CopiesSimOptions::Validate() const {
  if (nodes == 0 || sites == 0 || slots_per_node == 0) {
    return Status::InvalidArgument("the copies simulation needs nodes, sites and slots");
  }
  if (faults_start < warmup || faults_end < faults_start || faults_end + Seconds(60) > duration) {
    return Status::InvalidArgument(fmt::format(
        "the copies simulation needs {:.0f} s <= faults start <= faults end <= seconds - 60 "
        "(faults during the warm-up are not judged; recovery needs time before the end)",
        ToSeconds(warmup)));
  }
  if (partitions > 0 && partition_duration > (faults_end - faults_start) / partitions) {
    return Status::InvalidArgument("each partition must fit its share of the fault window");
  }
  return autoscale.Validate();
}

CopiesReport RunCopiesSim(const CopiesSimOptions& options) { return CopiesSim(options).Run(); }

std::string CopiesReport::Format() const {
  std::string out;
  out += fmt::format("seed {}  nodes {}  sites {}  simulated {:.0f}s  wall {:.2f}s\n", seed, nodes,
                     sites, simulated_seconds, wall_seconds);
  out += fmt::format("  copies started {}  stopped {}  lost with crashed nodes {}\n",
                     copies_started, copies_stopped, copies_lost);
  out += fmt::format("  scale steps up {}  down {}\n", scale_ups, scale_downs);
  out += fmt::format("  no serving copy            {}\n", outage.Format());
  out += fmt::format("  crash -> serving elsewhere {}\n", replacement.Format());
  out += fmt::format("  above max                  {}\n", excess.Format());
  out += fmt::format("  steady sites: {} flaps in {:.1f} site-hours\n", steady_flaps,
                     steady_site_hours);
  out += fmt::format("  peak copies per slot       {:.2f}\n", peak_copies_per_slot);
  out += fmt::format("  rollouts {}  done {}  stopped {}  copies replaced {}\n", rollouts,
                     rollouts_done, rollouts_stopped, replaced);
  out += fmt::format("  push -> every copy on it   {}\n", rollout.Format());
  for (const auto& flap : flaps) out += "  flap: " + flap + "\n";
  for (const auto& violation : violations) out += "  VIOLATION " + violation + "\n";
  return out;
}

}  // namespace starling::sim
