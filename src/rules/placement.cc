#include "src/rules/placement.h"

#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace starling::rules {

uint64_t RendezvousHash(std::string_view site, std::string_view node) {
  static constexpr unsigned char kZeroKey[crypto_shorthash_KEYBYTES] = {};
  // Site and node names are short (≤ 63 and ≤ 64 bytes): no allocation for the input.
  unsigned char buffer[256];
  std::string heap;
  unsigned char* input = buffer;
  const size_t size = site.size() + 1 + node.size();
  if (size > sizeof buffer) {
    heap.resize(size);
    input = reinterpret_cast<unsigned char*>(heap.data());
  }
  std::memcpy(input, site.data(), site.size());
  input[site.size()] = 0;
  std::memcpy(input + site.size() + 1, node.data(), node.size());
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, input, size, kZeroKey);
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
  // Names are looked up in a sorted index (the views hold tens of workers, not thousands).
  std::vector<std::pair<std::string_view, const WorkerView*>> by_name;
  by_name.reserve(workers.size());
  for (const WorkerView& worker : workers) by_name.emplace_back(worker.name, &worker);
  if (!std::is_sorted(by_name.begin(), by_name.end())) std::sort(by_name.begin(), by_name.end());
  auto find = [&](std::string_view name) -> const WorkerView* {
    auto it =
        std::lower_bound(by_name.begin(), by_name.end(), name,
                         [](const auto& entry, std::string_view key) { return entry.first < key; });
    return it != by_name.end() && it->first == name ? it->second : nullptr;
  };
  std::vector<std::string_view> hosting;  // nodes in the view with a copy (not stopping or failed)
  std::vector<std::string_view> to_remove;
  for (const CopyView& copy : copies) {
    const WorkerView* worker = find(copy.node);
    if (worker == nullptr) continue;  // dead or gone: its copies left with it
    if (copy.state == CopyState::kStopping || copy.state == CopyState::kFailed) continue;
    (worker->eligible ? hosting : to_remove).push_back(copy.node);
  }
  std::sort(hosting.begin(), hosting.end());
  hosting.erase(std::unique(hosting.begin(), hosting.end()), hosting.end());
  // Existing copies, best-ranked first (unweighted: stable while slots fill).
  std::vector<std::pair<uint64_t, std::string_view>> ranked;
  for (std::string_view node : hosting) ranked.emplace_back(RendezvousHash(site, node), node);
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::string_view> kept;
  for (const auto& [hash, node] : ranked) kept.push_back(node);
  Placement placement;
  if (kept.size() >= desired) {
    for (size_t i = desired; i < kept.size(); ++i) to_remove.push_back(kept[i]);
    kept.resize(desired);
  } else {
    std::vector<std::pair<double, std::string_view>> candidates;
    for (const WorkerView& worker : workers) {
      if (!worker.eligible || worker.free_slots == 0 ||
          std::binary_search(hosting.begin(), hosting.end(), std::string_view(worker.name))) {
        continue;
      }
      candidates.emplace_back(WeightedScore(site, worker.name, worker.free_slots), worker.name);
    }
    std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    for (size_t i = 0; i < candidates.size() && kept.size() < desired; ++i) {
      kept.push_back(candidates[i].second);
      placement.start.emplace_back(candidates[i].second);
    }
  }
  std::sort(to_remove.begin(), to_remove.end());
  to_remove.erase(std::unique(to_remove.begin(), to_remove.end()), to_remove.end());
  placement.chosen.assign(kept.begin(), kept.end());
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
