// src/rules/placement.h — which workers run a site's copies (DESIGN.md §8). Every node computes
// the same answer from the same view, and acts only for itself: it starts a copy when it finds
// itself chosen, and stops one when it is not chosen and the chosen set is serving (make before
// break).
//
// Rendezvous hashing (Thaler & Ravishankar 1998), weighted by the logarithmic method
// (score = weight / -ln(u), u the node's hash of the site mapped into (0, 1); Resch, "Weighted
// rendezvous hashing"): a node's share of new copies follows its free slots, and a change on one
// node moves only the copies that node wins or loses. The hash is SipHash-2-4 (libsodium's
// crypto_shorthash) under a fixed all-zero key over "site\0node": fixed and documented, so every
// build on every node agrees.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace starling::rules {

// SipHash-2-4 of "site\0node" under the zero key.
uint64_t RendezvousHash(std::string_view site, std::string_view node);

// The site's coordinator: of `alive_workers`, the one with the highest RendezvousHash; empty if
// there is none. Only the coordinator writes the site's desired count.
std::string Coordinator(std::string_view site, const std::vector<std::string>& alive_workers);

struct WorkerView {
  std::string name;
  uint32_t free_slots = 0;  // copy slots not in use
  bool eligible = true;     // alive, a worker, not draining
};

enum class CopyState : uint8_t { kStarting = 0, kServing = 1, kStopping = 2, kFailed = 3 };
std::string_view CopyStateName(CopyState state);

struct CopyView {
  std::string node;
  CopyState state = CopyState::kStarting;
  uint64_t release = 0;  // the tag of the release it runs (placement does not look at it)
};

struct Placement {
  std::vector<std::string> chosen;  // nodes that should run a copy, sorted
  std::vector<std::string> remove;  // nodes whose copy should go (once `chosen` serves), sorted
  std::vector<std::string> start;   // chosen nodes without a copy yet, sorted
};

// Where `desired` copies of `site` belong, given the workers and the copies in the view.
// Copies on nodes not in `workers` (dead, left) are ignored; copies on ineligible workers
// (draining) are to be removed. Existing copies are kept where they are, best-ranked first (by
// the unweighted hash, so their order does not change as slots fill); missing ones go to the
// best-ranked eligible workers with a free slot that hold no copy of the site (weighted by free
// slots). A node holds at most one copy of a site. Any order of `workers` gives the same answer;
// in name order it is a little cheaper.
Placement Place(std::string_view site, uint32_t desired, const std::vector<WorkerView>& workers,
                const std::vector<CopyView>& copies);

// Whether a copy outside `placement.chosen` may stop: every chosen node's copy is serving.
bool SafeToStop(const Placement& placement, const std::vector<CopyView>& copies);

}  // namespace starling::rules
