#include "src/rules/placement.h"

#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>

namespace starling::rules {

uint64_t RendezvousHash(std::string_view site, std::string_view node) {
  static constexpr unsigned char kZeroKey[crypto_shorthash_KEYBYTES] = {};
  std::string input;
  input.reserve(site.size() + 1 + node.size());
  input.append(site).push_back('\0');
  input.append(node);
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, reinterpret_cast<const unsigned char*>(input.data()), input.size(),
                   kZeroKey);
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | out[i];  // little-endian, as SipHash
  return value;
}

std::string Coordinator(std::string_view site, const std::vector<std::string>& alive_workers) {
  std::string best;
  uint64_t best_hash = 0;
  for (const std::string& node : alive_workers) {
    const uint64_t hash = RendezvousHash(site, node);
    if (best.empty() || hash > best_hash || (hash == best_hash && node < best)) {
      best = node;
      best_hash = hash;
    }
  }
  return best;
}

std::string_view CopyStateName(CopyState state) {
  switch (state) {
    case CopyState::kStarting:
      return "starting";
    case CopyState::kServing:
      return "serving";
    case CopyState::kStopping:
      return "stopping";
    case CopyState::kFailed:
      return "failed";
  }
  return "unknown";
}

namespace {

// Weighted rendezvous score: weight / -ln(u), u = the hash mapped into (0, 1).
double WeightedScore(std::string_view site, std::string_view node, uint32_t weight) {
  const double u = (static_cast<double>(RendezvousHash(site, node) >> 11) + 0.5) * 0x1.0p-53;
  return static_cast<double>(weight) / -std::log(u);
}

}  // namespace

Placement Place(std::string_view site, uint32_t desired, const std::vector<WorkerView>& workers,
                const std::vector<CopyView>& copies) {
  // Lookups only (never iterated), so a hash map does not make the answer depend on its order.
  std::unordered_map<std::string_view, const WorkerView*> by_name;
  by_name.reserve(workers.size());
  for (const WorkerView& worker : workers) by_name.emplace(worker.name, &worker);
  std::set<std::string> hosting;  // nodes in the view with a copy (not stopping or failed)
  std::set<std::string> to_remove;
  for (const CopyView& copy : copies) {
    auto it = by_name.find(copy.node);
    if (it == by_name.end()) continue;  // dead or gone: its copies left with it
    if (copy.state == CopyState::kStopping || copy.state == CopyState::kFailed) continue;
    if (!it->second->eligible) {
      to_remove.insert(copy.node);
      continue;
    }
    hosting.insert(copy.node);
  }
  // Existing copies, best-ranked first (unweighted: stable while slots fill).
  std::vector<std::pair<uint64_t, std::string>> ranked;
  for (const std::string& node : hosting) ranked.emplace_back(RendezvousHash(site, node), node);
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::string> kept;
  for (auto& [hash, node] : ranked) kept.push_back(std::move(node));
  Placement placement;
  if (kept.size() >= desired) {
    for (size_t i = desired; i < kept.size(); ++i) to_remove.insert(kept[i]);
    kept.resize(desired);
  } else {
    std::vector<std::pair<double, std::string>> candidates;
    for (const WorkerView& worker : workers) {
      if (!worker.eligible || worker.free_slots == 0 || hosting.contains(worker.name)) continue;
      candidates.emplace_back(WeightedScore(site, worker.name, worker.free_slots), worker.name);
    }
    std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    for (size_t i = 0; i < candidates.size() && kept.size() < desired; ++i) {
      kept.push_back(candidates[i].second);
      placement.start.push_back(candidates[i].second);
    }
  }
  placement.chosen = std::move(kept);
  std::sort(placement.chosen.begin(), placement.chosen.end());
  std::sort(placement.start.begin(), placement.start.end());
  placement.remove.assign(to_remove.begin(), to_remove.end());
  return placement;
}

bool SafeToStop(const Placement& placement, const std::vector<CopyView>& copies) {
  for (const std::string& node : placement.chosen) {
    const bool serving = std::any_of(copies.begin(), copies.end(), [&](const CopyView& copy) {
      return copy.node == node && copy.state == CopyState::kServing;
    });
    if (!serving) return false;
  }
  return true;
}

}  // namespace starling::rules
