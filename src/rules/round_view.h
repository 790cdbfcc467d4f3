// src/rules/round_view.h — the view one planning round is built from (DESIGN.md §8): the sites in
// the state log, the live workers with their free slots and whether they are being drained, and
// every site's copies with their states and loads, as one node holds them. One pure function,
// used by the agent (src/agent/copies.cc) and by the copies simulator, so the simulator runs the
// agent's own round input rather than a look-alike.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "src/rules/copy_planner.h"

namespace starling::rules {

// A site as the state log holds it, with the copy count its coordinator last wrote (or its
// minimum when none was written yet).
struct SiteSpec {
  std::string name;
  uint32_t min = 1, max = 8;
  double up = 2.0, down = 1.0;
  uint32_t desired = 1;
  uint64_t release = 0;          // the tag of its release in force (0: none, nothing to roll)
  bool rollout_stopped = false;  // that release's copies failed to serve: not rolled further
  uint32_t surge = 1;            // copies replaced at once in a rollout
};

// One copy as a node reports it.
struct CopyReport {
  std::string site;
  CopyState state = CopyState::kStarting;
  double load = 0;       // its load average
  uint64_t release = 0;  // the tag of the release it runs
};

// A live member as gossip shows it.
struct MemberReport {
  std::string name;
  bool worker = true;              // runs copies (worker or both)
  uint32_t capacity = 0;           // copy slots it offers
  std::vector<CopyReport> copies;  // from its last load report
};

struct RoundInput {
  std::vector<SiteSpec> sites;        // any order: the view holds them in name order
  std::vector<MemberReport> members;  // live members, the deciding node included; any order
  std::set<std::string> draining;     // nodes being emptied ("drain/<node>")
  // The deciding node and, if given, its own copies as it knows them now (fresher than the
  // report it last published); otherwise its report stands for them too.
  std::string self;
  std::optional<std::vector<CopyReport>> own;
};

// Workers in name order, each with its capacity less the copies it runs (the fresh list for
// `self`) and eligible unless draining; sites in name order, each with its copies on those
// workers (copies of unknown sites and on non-workers are ignored) and its serving copies' loads.
RoundView BuildRoundView(const RoundInput& input);

}  // namespace starling::rules
