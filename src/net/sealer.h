// src/net/sealer.h — authenticated encryption of every datagram and stream frame with the cluster
// keyring (DESIGN.md §3). XChaCha20-Poly1305 (libsodium) with random 192-bit nonces.
//
// Sealed layout: [format 1 byte][nonce 24][ciphertext of (sent-at ms 8 bytes LE | payload)][tag
// 16]. The format byte, the channel (datagram, stream, API) and the recipient (when bound) are
// authenticated as associated data, so a datagram cannot be replayed as a stream frame, nor to
// a node it was not sent to. Open() rejects, and counts, anything that
// fails: wrong key, truncation, tampering, a timestamp outside the replay window, or a nonce seen
// before. Thread-safe: the keyring is shared copy-on-write and the replay window sits behind a
// lock, while the cryptography runs outside it, so a megabyte frame sealed on one thread never
// holds up a datagram opened on another.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace starling::net {

inline constexpr size_t kKeyBytes = 32;
using Key = std::array<uint8_t, kKeyBytes>;

// Keys to try when opening; the primary seals. Rotation: install the new key everywhere, use it
// everywhere, then remove the old one — no step breaks communication.
class Keyring {
 public:
  // REQUIRES: at least one key. The first is the primary.
  explicit Keyring(std::vector<Key> keys);

  // Parses a key file: one base64 key per line, primary first; '#' lines and blanks ignored.
  static Result<Keyring> Parse(std::string_view text);
  static Result<Key> DecodeKey(std::string_view base64);
  static std::string EncodeKey(const Key& key);
  static Key Generate();
  // A short, non-secret identifier for a key (first 8 bytes of its BLAKE2b hash, hex).
  static std::string Fingerprint(const Key& key);

  [[nodiscard]] Status Install(const Key& key);
  [[nodiscard]] Status Use(const Key& key);
  [[nodiscard]] Status Remove(const Key& key);
  std::string Serialize() const;

  const Key& primary() const { return keys_.front(); }
  const std::vector<Key>& keys() const { return keys_; }

 private:
  std::vector<Key> keys_;
};

// kApi: an API call authenticated with the cluster key (src/auth/cluster_credential.h).
enum class Channel : uint8_t { kDatagram = 1, kStream = 2, kApi = 3 };

struct SealerStats {
  uint64_t sealed = 0;
  uint64_t opened = 0;
  uint64_t rejected_short = 0;
  uint64_t rejected_oversize = 0;
  uint64_t rejected_format = 0;
  uint64_t rejected_auth = 0;    // no key authenticates it
  uint64_t rejected_stale = 0;   // timestamp outside the window
  uint64_t rejected_replay = 0;  // nonce seen within the window
};

class Sealer {
 public:
  inline static constexpr size_t kNonceBytes = 24;
  inline static constexpr size_t kTagBytes = 16;
  inline static constexpr size_t kOverheadBytes = 1 + kNonceBytes + 8 + kTagBytes;

  // `replay_window_ms`: how far a sender's clock may differ from ours; `max_plaintext_bytes`
  // bounds what Open() accepts.
  Sealer(Keyring keyring, int64_t replay_window_ms, size_t max_plaintext_bytes);

  // Seals `payload` with the primary key. `now_ms` is wall-clock milliseconds since the epoch.
  // `recipient` (its "host:port"), when given, is bound in: the message opens only for it, so a
  // datagram captured on its way to one node cannot be replayed to another.
  std::string Seal(Channel channel, std::string_view payload, int64_t now_ms,
                   std::string_view recipient = {});
  // Opens a sealed message, returning the payload, or a corruption status saying why not.
  // `recipients`: the names this node answers to (any may match); empty for an unbound message.
  [[nodiscard]] Result<std::string> Open(Channel channel, std::string_view sealed, int64_t now_ms,
                                         const std::vector<std::string>& recipients = {});

  // The keys now (a snapshot).
  Keyring keyring() const;
  // Applies `change` (Install, Use, Remove) to the keyring; on success it takes effect for every
  // later Seal and Open. The keyring is unchanged when `change` fails.
  [[nodiscard]] Status ChangeKeyring(const std::function<Status(Keyring&)>& change);
  SealerStats stats() const;

 private:
  std::shared_ptr<const Keyring> Keys() const;
  bool SeenRecently(const std::string& nonce, int64_t now_ms);  // REQUIRES: mutex_ held
  void Count(uint64_t SealerStats::*counter);

  int64_t replay_window_ms_;
  size_t max_plaintext_bytes_;
  mutable std::mutex mutex_;                // guards everything below
  std::shared_ptr<const Keyring> keyring_;  // replaced whole on a change
  SealerStats stats_;
  std::set<std::string> seen_;                          // nonces within the window
  std::deque<std::pair<int64_t, std::string>> expiry_;  // (seen at, nonce), oldest first
};

}  // namespace starling::net
