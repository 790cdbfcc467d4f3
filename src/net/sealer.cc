#include "src/net/sealer.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace starling::net {
namespace {

constexpr uint8_t kFormat = 2;  // 2: the recipient joined the associated data
constexpr size_t kMaxSeenNonces = 1 << 18;

struct SodiumInit {
  SodiumInit() { STARLING_CHECK(sodium_init() >= 0); }
};
void EnsureSodium() { static SodiumInit init; }

// The associated data: format, channel, then the recipient's name (empty when unbound).
std::string AssociatedData(Channel channel, std::string_view recipient) {
  std::string ad;
  ad.reserve(2 + recipient.size());
  ad.push_back(static_cast<char>(kFormat));
  ad.push_back(static_cast<char>(channel));
  ad += recipient;
  return ad;
}

}  // namespace

Keyring::Keyring(std::vector<Key> keys) : keys_(std::move(keys)) { STARLING_CHECK(!keys_.empty()); }

Result<Key> Keyring::DecodeKey(std::string_view base64) {
  EnsureSodium();
  while (!base64.empty() &&
         (base64.back() == '\n' || base64.back() == '\r' || base64.back() == ' ')) {
    base64.remove_suffix(1);
  }
  Key key;
  size_t length = 0;
  if (sodium_base642bin(key.data(), key.size(), base64.data(), base64.size(), nullptr, &length,
                        nullptr, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      length != kKeyBytes) {
    return Status::InvalidArgument("a cluster key is 32 bytes in base64 (see `starling keygen`)");
  }
  return key;
}

std::string Keyring::EncodeKey(const Key& key) {
  EnsureSodium();
  char out[sodium_base64_ENCODED_LEN(kKeyBytes, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(out, sizeof(out), key.data(), key.size(), sodium_base64_VARIANT_ORIGINAL);
  return out;
}

Key Keyring::Generate() {
  EnsureSodium();
  Key key;
  randombytes_buf(key.data(), key.size());
  return key;
}

std::string Keyring::Fingerprint(const Key& key) {
  EnsureSodium();
  uint8_t hash[8];
  crypto_generichash(hash, sizeof(hash), key.data(), key.size(), nullptr, 0);
  char hex[sizeof(hash) * 2 + 1];
  sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
  return hex;
}

Result<Keyring> Keyring::Parse(std::string_view text) {
  std::vector<Key> keys;
  size_t line_number = 0;
  while (!text.empty()) {
    const size_t end = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    ++line_number;
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#' || line == "\r") continue;
    auto key = DecodeKey(line);
    if (!key.ok()) {
      return Status::InvalidArgument("key file line " + std::to_string(line_number) + ": " +
                                     key.status().message());
    }
    if (std::find(keys.begin(), keys.end(), *key) == keys.end()) keys.push_back(*key);
  }
  if (keys.empty()) return Status::InvalidArgument("key file holds no key");
  return Keyring(std::move(keys));
}

Status Keyring::Install(const Key& key) {
  if (std::find(keys_.begin(), keys_.end(), key) != keys_.end()) return Status::Ok();
  if (keys_.size() >= 16) return Status::ResourceExhausted("a keyring holds at most 16 keys");
  keys_.push_back(key);
  return Status::Ok();
}

Status Keyring::Use(const Key& key) {
  auto it = std::find(keys_.begin(), keys_.end(), key);
  if (it == keys_.end()) return Status::NotFound("install the key before using it");
  std::rotate(keys_.begin(), it, it + 1);
  return Status::Ok();
}

Status Keyring::Remove(const Key& key) {
  auto it = std::find(keys_.begin(), keys_.end(), key);
  if (it == keys_.end()) return Status::NotFound("no such key in the keyring");
  if (it == keys_.begin()) {
    return Status::FailedPrecondition("cannot remove the primary key; use another key first");
  }
  keys_.erase(it);
  return Status::Ok();
}

std::string Keyring::Serialize() const {
  std::string out = "# Starling keyring: primary first. Keep this file secret (mode 0600).\n";
  for (const Key& key : keys_) out += EncodeKey(key) + "\n";
  return out;
}

Sealer::Sealer(Keyring keyring, int64_t replay_window_ms, size_t max_plaintext_bytes)
    : replay_window_ms_(replay_window_ms),
      max_plaintext_bytes_(max_plaintext_bytes),
      keyring_(std::make_shared<const Keyring>(std::move(keyring))) {
  EnsureSodium();
}

std::shared_ptr<const Keyring> Sealer::Keys() const {
  std::lock_guard lock(mutex_);
  return keyring_;
}

Keyring Sealer::keyring() const { return *Keys(); }

Status Sealer::ChangeKeyring(const std::function<Status(Keyring&)>& change) {
  std::lock_guard lock(mutex_);
  Keyring changed = *keyring_;
  if (Status s = change(changed); !s.ok()) return s;
  keyring_ = std::make_shared<const Keyring>(std::move(changed));
  return Status::Ok();
}

SealerStats Sealer::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void Sealer::Count(uint64_t SealerStats::*counter) {
  std::lock_guard lock(mutex_);
  ++(stats_.*counter);
}

std::string Sealer::Seal(Channel channel, std::string_view payload, int64_t now_ms,
                         std::string_view recipient) {
  std::string plain(8 + payload.size(), '\0');
  const auto stamp = static_cast<uint64_t>(now_ms);
  for (int i = 0; i < 8; ++i) plain[i] = static_cast<char>((stamp >> (8 * i)) & 0xff);
  std::memcpy(plain.data() + 8, payload.data(), payload.size());

  std::string out(1 + kNonceBytes + plain.size() + kTagBytes, '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  bytes[0] = kFormat;
  randombytes_buf(bytes + 1, kNonceBytes);
  const std::string ad = AssociatedData(channel, recipient);
  unsigned long long written = 0;
  const auto keys = Keys();
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      bytes + 1 + kNonceBytes, &written, reinterpret_cast<const unsigned char*>(plain.data()),
      plain.size(), reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr,
      bytes + 1, keys->primary().data());
  STARLING_CHECK(written == plain.size() + kTagBytes);
  Count(&SealerStats::sealed);
  return out;
}

Result<std::string> Sealer::Open(Channel channel, std::string_view sealed, int64_t now_ms,
                                 const std::vector<std::string>& recipients) {
  if (sealed.size() < kOverheadBytes) {
    Count(&SealerStats::rejected_short);
    return Status::Corruption("sealed message too short");
  }
  if (sealed.size() - kOverheadBytes > max_plaintext_bytes_) {
    Count(&SealerStats::rejected_oversize);
    return Status::Corruption("sealed message too large");
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(sealed.data());
  if (bytes[0] != kFormat) {
    Count(&SealerStats::rejected_format);
    return Status::Corruption("unknown sealing format");
  }
  std::string plain(sealed.size() - 1 - kNonceBytes - kTagBytes, '\0');
  bool opened = false;
  const auto keys = Keys();
  // Each name this node answers to, each key: the first pair (primary, advertised) nearly always.
  const std::vector<std::string> unbound = {""};
  for (const std::string& recipient : recipients.empty() ? unbound : recipients) {
    const std::string ad = AssociatedData(channel, recipient);
    for (const Key& key : keys->keys()) {
      unsigned long long length = 0;
      if (crypto_aead_xchacha20poly1305_ietf_decrypt(
              reinterpret_cast<unsigned char*>(plain.data()), &length, nullptr,
              bytes + 1 + kNonceBytes, sealed.size() - 1 - kNonceBytes,
              reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), bytes + 1,
              key.data()) == 0) {
        opened = true;
        break;
      }
    }
    if (opened) break;
  }
  if (!opened) {
    Count(&SealerStats::rejected_auth);
    return Status::Corruption("message does not authenticate with any cluster key");
  }
  uint64_t stamp = 0;
  for (int i = 0; i < 8; ++i)
    stamp |= static_cast<uint64_t>(static_cast<uint8_t>(plain[i])) << (8 * i);
  const int64_t age = now_ms - static_cast<int64_t>(stamp);
  if (age > replay_window_ms_ || age < -replay_window_ms_) {
    Count(&SealerStats::rejected_stale);
    return Status::Corruption("message timestamp outside the replay window (clock skew?)");
  }
  {
    std::lock_guard lock(mutex_);
    if (SeenRecently(std::string(sealed.substr(1, kNonceBytes)), now_ms)) {
      ++stats_.rejected_replay;
      return Status::Corruption("replayed message");
    }
    ++stats_.opened;
  }
  plain.erase(0, 8);
  return plain;
}

bool Sealer::SeenRecently(const std::string& nonce, int64_t now_ms) {
  while (!expiry_.empty() && (expiry_.front().first < now_ms - 2 * replay_window_ms_ ||
                              expiry_.size() > kMaxSeenNonces)) {
    seen_.erase(expiry_.front().second);
    expiry_.pop_front();
  }
  if (!seen_.insert(nonce).second) return true;
  expiry_.emplace_back(now_ms, nonce);
  return false;
}

}  // namespace starling::net
