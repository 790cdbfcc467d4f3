// src/rules/copy_planner.h — one round of the copy rules (DESIGN.md §8) for the nodes that share
// one view: each site's coordinator runs its autoscaler, then placement says who starts and who
// stops a copy. The agent calls it once a second for itself; the simulator calls it for every
// group of nodes whose views are equal, so both run this very code.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/time.h"
#include "src/rules/autoscale.h"
#include "src/rules/placement.h"

namespace starling::rules {

struct SiteView {
  std::string name;
  uint32_t min = 1, max = 8;
  double up = 2.0, down = 1.0;
  uint32_t desired = 1;          // the count in the state log as this view holds it
  uint64_t release = 0;          // the tag of its release in force (0: none)
  bool rollout_stopped = false;  // that release failed to serve: not rolled further
  uint32_t surge = 1;            // copies replaced at once in a rollout
  // The site's copies on the view's workers. A node holds one copy of a site, or two while a
  // rollout replaces its copy (the new one beside the old until the new one serves).
  std::vector<CopyView> copies;
  std::vector<double> loads;  // load averages of its serving copies
};

struct RoundView {
  std::vector<WorkerView> workers;  // alive workers (eligible unless draining); best in name order
  std::vector<SiteView> sites;
};

struct Decision {
  // kReplace: the node starts a copy of the release in force beside its outdated one;
  // kRetire: it stops its outdated copy, the new one serving (src/rules/rollout.h).
  enum class Kind : uint8_t { kScale, kStart, kStop, kReplace, kRetire };
  Kind kind = Kind::kScale;
  size_t site = 0;     // index into RoundView::sites
  std::string node;    // who acts: the coordinator (kScale) or the copy's node
  uint32_t count = 0;  // kScale: the new desired count; kStart, kStop: the count placed for;
                       // kReplace, kRetire: copies on the release in force
  uint32_t was = 0;    // kScale: the count before; kStart, kStop: the site's copies in view;
                       // kReplace, kRetire: copies on other releases
  std::string why;     // kScale: the autoscaler's reason ("mean load 2.31 >= 2.00 for 2 s")
  std::string reason;  // the whole decision in a sentence, for the events log
};

// A deciding node and its autoscalers, by site name (created and dropped here as coordination
// moves: a node that stops coordinating a site loses that site's autoscaler).
struct Decider {
  std::string name;
  std::map<std::string, Autoscaler>* autoscalers = nullptr;
};

// The decisions of `deciders` (nodes that all hold `view`), in site order. Starts are proposals:
// the node checks what it alone knows (it already runs that site; it has no slot left) before
// acting. A kScale decision's new count is what placement used for that site in this round.
// `coordinators`, if given, holds each site's Coordinator() among the view's workers (a caller
// with many equal views caches them); otherwise they are computed here.
std::vector<Decision> PlanRound(Instant now, const RoundView& view,
                                const std::vector<Decider>& deciders,
                                const AutoscaleOptions& options,
                                const std::vector<std::string>* coordinators = nullptr);

}  // namespace starling::rules
