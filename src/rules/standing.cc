#include "src/rules/standing.h"

#include <fmt/format.h>

namespace starling::rules {

std::string WhyNotDecide(const Standing& standing) {
  if (standing.single_node) return "";
  if (!standing.exchanged) {
    return "it has not exchanged state with a peer since it started (a node alone sees no "
           "copies; set [copies] single_node = true for a one-node cluster)";
  }
  if (standing.reports_missing > 0) {
    return fmt::format("it has not yet heard the load report of {} live worker{}",
                       standing.reports_missing, standing.reports_missing == 1 ? "" : "s");
  }
  if (standing.live_workers * 2 < standing.known_workers) {
    return fmt::format("it sees {} of the {} workers it knows alive: fewer than half",
                       standing.live_workers, standing.known_workers);
  }
  return "";
}

}  // namespace starling::rules
