// What this node tells of its copies (src/agent/copies.h): the load report gossip carries, and
// the API's list, with why a copy does not serve; and the id ranges its copies hold.
#include <fmt/format.h>

#include <algorithm>

#include "gossip/codec.h"
#include "src/agent/copies.h"
#include "src/copies/id_range.h"

namespace starling::agent {

using json = nlohmann::json;
using rules::CopyState;

std::vector<gossip::CopyLoad> CopyService::Report() const {
  std::vector<gossip::CopyLoad> report;
  for (const auto& [id, copy] : copies_) {
    if (copy.state == CopyState::kFailed) continue;
    report.push_back({copy.site, static_cast<float>(copy.load.value()),
                      copy.state == CopyState::kServing, copy.port,
                      copy.state == CopyState::kStopping, copy.release});
  }
  std::sort(report.begin(), report.end(),
            [](const auto& a, const auto& b) { return a.load1 > b.load1; });
  if (report.size() > gossip::kMaxCopyLoads) report.resize(gossip::kMaxCopyLoads);
  return report;
}

json CopyService::CopiesJson() const {
  json out = json::array();
  const Instant now = hooks_.now();
  for (const auto& [id, copy] : copies_) {
    out.push_back({{"site", copy.site},
                   {"id", id},
                   {"node", config_.node_name},
                   {"port", copy.port},
                   {"state", rules::CopyStateName(copy.state)},
                   {"load1", copy.load.value()},
                   {"cpu_s", static_cast<double>(copy.cpu_micros) / 1e6},
                   {"version", copy.version},
                   {"release", fmt::format("{:016x}", copy.release)},
                   {"uptime_s", ToSeconds(now - copy.started)}});
    // Why it does not serve, for `starling copies`.
    if (copy.state == CopyState::kStarting) {
      out.back()["why"] =
          copy.busy ? "being set up (overlay, container)"
                    : fmt::format("its port does not answer yet: {:.0f} s of the {:.0f} s allowed",
                                  ToSeconds(now - copy.started), ToSeconds(copy.start_timeout));
    } else if (copy.state == CopyState::kStopping) {
      out.back()["why"] = "stopping: drained from the balancers first";
    } else if (copy.state == CopyState::kFailed) {
      out.back()["why"] = "failed: being cleaned up";
    }
  }
  return out;
}

uint32_t CopyService::IdBaseFor(const std::string& site, bool home) const {
  std::map<uint32_t, std::string> taken;
  for (const auto& [id, copy] : copies_) {
    if (copy.id_base != 0) taken.emplace(copy.id_base, copy.site);
  }
  return home ? copies::HomeIdBase(site, taken) : copies::ChooseIdBase(site, taken);
}

}  // namespace starling::agent
