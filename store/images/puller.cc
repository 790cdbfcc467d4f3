#include "store/images/puller.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace starling::images {

Status PullerOptions::Validate() const {
  if (batch_chunks == 0 || batch_chunks > 4096) {
    return Status::InvalidArgument("images.batch_chunks must be 1..4096");
  }
  if (batch_bytes < (256u << 10) || batch_bytes > (64u << 20)) {
    return Status::InvalidArgument("images.batch_bytes must be 256 KiB..64 MiB");
  }
  if (per_peer_in_flight < 1 || max_in_flight < 1 || max_in_flight > 256) {
    return Status::InvalidArgument(
        "images.per_peer_in_flight must be >= 1 and images.max_in_flight 1..256");
  }
  if (rest_after_failure <= Duration::zero() || recheck_lacking <= Duration::zero()) {
    return Status::InvalidArgument("images rest and recheck intervals must be positive");
  }
  return Status::Ok();
}

Puller::Puller(const PullerOptions& options) : options_(options) {
  tokens_ = static_cast<double>(options_.bytes_per_second);
}

void Puller::Want(const std::vector<ChunkRef>& chunks, double offset) {
  if (chunks.empty()) return;
  const size_t n = chunks.size();
  const size_t start =
      std::min(n - 1, static_cast<size_t>(std::clamp(offset, 0.0, 1.0) * static_cast<double>(n)));
  slots_.reserve(slots_.size() + n);
  index_.reserve(index_.size() + n);
  for (size_t i = 0; i < n; ++i) {
    const ChunkRef& chunk = chunks[(start + i) % n];
    auto [it, added] = index_.try_emplace(chunk.hash, slots_.size());
    if (!added) continue;
    slots_.push_back({.hash = chunk.hash, .size = chunk.size});
  }
  next_wake_ = Instant{};  // schedule at the next tick
}

Puller::Slot* Puller::Find(const Hash& hash) {
  auto it = index_.find(hash);
  return it == index_.end() ? nullptr : &slots_[it->second];
}

void Puller::Drop(Slot& slot) {
  index_.erase(slot.hash);
  slot.live = false;
  slot.in_flight = false;
  slot.lacking.clear();
}

void Puller::Forget(const Hash& hash) {
  if (Slot* slot = Find(hash)) Drop(*slot);
}

void Puller::SetPeers(Instant now, std::vector<std::string> peers, std::vector<PullRequest>* out) {
  std::sort(peers.begin(), peers.end());
  for (auto it = peers_.begin(); it != peers_.end();) {
    it = std::binary_search(peers.begin(), peers.end(), it->first) ? std::next(it)
                                                                   : peers_.erase(it);
  }
  for (auto& peer : peers) {
    const uint32_t id = PeerId(peer);
    peers_.try_emplace(std::move(peer)).first->second.id = id;
  }
  Schedule(now, out);
}

void Puller::OnReply(Instant now, uint64_t id, const std::vector<Hash>& received,
                     const std::vector<Hash>& lacking, std::vector<PullRequest>* out) {
  auto it = in_flight_.find(id);
  if (it == in_flight_.end()) return;
  const InFlight request = std::move(it->second);
  in_flight_.erase(it);
  Release(now, request, received, lacking);
  Schedule(now, out);
}

void Puller::OnFailed(Instant now, uint64_t id, std::vector<PullRequest>* out) {
  auto it = in_flight_.find(id);
  if (it == in_flight_.end()) return;
  const InFlight request = std::move(it->second);
  in_flight_.erase(it);
  ++stats_.failures;
  if (auto peer = peers_.find(request.peer); peer != peers_.end()) {
    peer->second.rested_until = now + options_.rest_after_failure;
  }
  Release(now, request, {}, {});
  Schedule(now, out);
}

void Puller::Tick(Instant now, std::vector<PullRequest>* out) { Schedule(now, out); }

uint32_t Puller::PeerId(const std::string& name) {
  return peer_ids_.try_emplace(name, static_cast<uint32_t>(peer_ids_.size())).first->second;
}

void Puller::Release(Instant now, const InFlight& request, const std::vector<Hash>& received,
                     const std::vector<Hash>& lacking) {
  if (auto peer = peers_.find(request.peer); peer != peers_.end()) --peer->second.in_flight;
  // At most a batch each: sorted vectors, no hashing and no allocation per chunk.
  std::vector<Hash> got(received), lacks(lacking);
  std::sort(got.begin(), got.end());
  std::sort(lacks.begin(), lacks.end());
  const uint32_t peer_id = PeerId(request.peer);
  for (const Hash& hash : request.hashes) {
    Slot* slot = Find(hash);
    if (slot == nullptr) continue;  // forgotten meanwhile
    if (std::binary_search(got.begin(), got.end(), hash)) {
      ++stats_.chunks_received;
      stats_.bytes_received += slot->size;
      Drop(*slot);
      continue;
    }
    slot->in_flight = false;
    // The budget is for bytes that arrive: what did not come is given back.
    if (options_.bytes_per_second > 0) tokens_ += slot->size;
    if (std::binary_search(lacks.begin(), lacks.end(), hash)) {
      ++stats_.lacking_answers;
      slot->lacking.emplace_back(peer_id, now + options_.recheck_lacking);
    }
  }
}

bool Puller::LacksAt(const Slot& slot, uint32_t peer, Instant now) const {
  for (const auto& [id, until] : slot.lacking) {
    if (id == peer && until > now) return true;
  }
  return false;
}

void Puller::Refill(Instant now) {
  if (options_.bytes_per_second == 0) return;
  const double rate = static_cast<double>(options_.bytes_per_second);
  if (now > refilled_at_) {
    tokens_ = std::min(rate, tokens_ + ToSeconds(now - refilled_at_) * rate);
  }
  refilled_at_ = now;
}

void Puller::CompactOrder() {
  // Cursors keep their place: each becomes the count of kept slots before it.
  std::vector<size_t> kept_before(slots_.size() + 1, 0);
  size_t kept = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    kept_before[i] = kept;
    if (!slots_[i].live) continue;
    if (kept != i) slots_[kept] = std::move(slots_[i]);
    index_[slots_[kept].hash] = kept;
    ++kept;
  }
  kept_before[slots_.size()] = kept;
  for (auto& [name, peer] : peers_) peer.cursor = kept_before[std::min(peer.cursor, slots_.size())];
  slots_.resize(kept);
}

PullRequest Puller::NextBatch(Instant now, Peer& peer, uint64_t* bytes) {
  constexpr size_t kScanLimit = 4096;
  PullRequest request;
  *bytes = 0;
  const size_t n = slots_.size();
  if (n == 0) return request;
  size_t pos = peer.cursor % n;
  size_t scanned = 0;
  for (; scanned < n && scanned < kScanLimit; ++scanned, pos = (pos + 1) % n) {
    Slot& slot = slots_[pos];
    if (!slot.live || slot.in_flight) continue;
    if (!slot.lacking.empty()) {
      std::erase_if(slot.lacking, [now](const auto& lack) { return lack.second <= now; });
      if (LacksAt(slot, peer.id, now)) {
        for (const auto& lack : slot.lacking) next_wake_ = std::min(next_wake_, lack.second);
        continue;
      }
    }
    if (!request.hashes.empty() && *bytes + slot.size > options_.batch_bytes) break;
    request.hashes.push_back(slot.hash);
    *bytes += slot.size;
    if (request.hashes.size() >= options_.batch_chunks) {
      pos = (pos + 1) % n;
      break;
    }
  }
  peer.cursor = pos;
  // Stopped by the limit, not by a full lap: look further soon.
  if (request.hashes.empty() && scanned < n) {
    next_wake_ = std::min(next_wake_, now + Milliseconds(20));
  }
  return request;
}

void Puller::Schedule(Instant now, std::vector<PullRequest>* out) {
  next_wake_ = kInstantMax;
  if (slots_.size() > 1024 && index_.size() * 2 < slots_.size()) CompactOrder();
  if (index_.empty() || peers_.empty()) return;
  Refill(now);
  std::vector<std::string> names;
  for (const auto& [name, peer] : peers_) names.push_back(name);
  auto wake_at = [this](Instant when) { next_wake_ = std::min(next_wake_, when); };

  bool progress = true;
  while (progress && in_flight_.size() < static_cast<size_t>(options_.max_in_flight)) {
    progress = false;
    for (size_t k = 0; k < names.size(); ++k) {
      if (in_flight_.size() >= static_cast<size_t>(options_.max_in_flight)) break;
      const std::string& name = names[(peer_cursor_ + k) % names.size()];
      Peer& peer = peers_[name];
      if (peer.in_flight >= options_.per_peer_in_flight) continue;
      if (peer.rested_until > now) {
        wake_at(peer.rested_until);
        continue;
      }
      if (options_.bytes_per_second > 0 && tokens_ < 0) {
        const double wait_s = -tokens_ / static_cast<double>(options_.bytes_per_second);
        wake_at(now + Duration(static_cast<int64_t>(std::ceil(wait_s * 1e6))));
        return;
      }
      uint64_t bytes = 0;
      PullRequest request = NextBatch(now, peer, &bytes);
      if (request.hashes.empty()) continue;
      for (const Hash& hash : request.hashes) Find(hash)->in_flight = true;
      request.id = next_id_++;
      request.peer = name;
      ++peer.in_flight;
      tokens_ -= static_cast<double>(bytes);
      ++stats_.requests;
      in_flight_[request.id] = InFlight{name, request.hashes};
      out->push_back(std::move(request));
      progress = true;
    }
    ++peer_cursor_;
  }
}

}  // namespace starling::images
