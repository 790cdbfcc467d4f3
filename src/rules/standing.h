// src/rules/standing.h — whether a node may act on the copy rules at all (DESIGN.md §8). A node
// that has not heard the cluster since it started sees no copies anywhere, and one cut off from
// most of the workers it knows sees only its side: either would start copies of every site (and
// stop them again when it hears the rest). Such a node decides nothing until it hears enough.
// A cluster of one node is an explicit setting ([copies] single_node), not a side effect.
#pragma once

#include <cstddef>
#include <string>

namespace starling::rules {

struct Standing {
  bool single_node = false;  // configured: this node alone is the cluster
  // Since it started, a peer answered one of its state-log exchanges and it merged a peer's
  // whole membership (a push-pull).
  bool exchanged = false;
  size_t live_workers = 0;   // workers it sees alive with their load report, itself included
  size_t known_workers = 0;  // workers it knows that have not left (alive, suspect or dead)
  // Workers it sees alive whose load report has not arrived: they look like workers without
  // copies, so a round would start copies they already run.
  size_t reports_missing = 0;
};

// Empty when the node may start and stop copies; otherwise why not, in a sentence.
std::string WhyNotDecide(const Standing& standing);

}  // namespace starling::rules
