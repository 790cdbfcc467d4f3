#include "src/auth/sealed_secret.h"

#include <sodium.h>

#include <array>
#include <vector>

namespace starling::auth {
namespace {

constexpr std::string_view kVersion = "v1";
constexpr std::string_view kLabel = "starling sealed secret v1";

using SecretKey = std::array<uint8_t, crypto_aead_xchacha20poly1305_ietf_KEYBYTES>;

SecretKey DeriveKey(const net::Key& cluster_key) {
  SecretKey key{};
  crypto_generichash(key.data(), key.size(), reinterpret_cast<const uint8_t*>(kLabel.data()),
                     kLabel.size(), cluster_key.data(), cluster_key.size());
  return key;
}

std::string Base64(const std::vector<uint8_t>& bytes) {
  std::string text(
      sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(text.data(), text.size(), bytes.data(), bytes.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  text.resize(text.size() - 1);  // the terminating NUL
  return text;
}

}  // namespace

std::string SealSecret(const net::Keyring& keyring, std::string_view name,
                       std::string_view secret) {
  if (sodium_init() < 0) std::abort();
  SecretKey key = DeriveKey(keyring.primary());
  std::vector<uint8_t> sealed(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + secret.size() +
                              crypto_aead_xchacha20poly1305_ietf_ABYTES);
  randombytes_buf(sealed.data(), crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      sealed.data() + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &written,
      reinterpret_cast<const uint8_t*>(secret.data()), secret.size(),
      reinterpret_cast<const uint8_t*>(name.data()), name.size(), nullptr, sealed.data(),
      key.data());
  sodium_memzero(key.data(), key.size());
  return std::string(kVersion) + "." + net::Keyring::Fingerprint(keyring.primary()) + "." +
         Base64(sealed);
}

Result<std::string> OpenSecret(const net::Keyring& keyring, std::string_view name,
                               std::string_view sealed) {
  if (sodium_init() < 0) std::abort();
  const size_t first = sealed.find('.');
  const size_t second = first == std::string_view::npos ? first : sealed.find('.', first + 1);
  if (second == std::string_view::npos || sealed.substr(0, first) != kVersion) {
    return Status::Corruption("a sealed secret must read v1.<fingerprint>.<sealed>");
  }
  const std::string_view fingerprint = sealed.substr(first + 1, second - first - 1);
  const std::string_view body = sealed.substr(second + 1);
  const net::Key* key = nullptr;
  for (const auto& candidate : keyring.keys()) {
    if (net::Keyring::Fingerprint(candidate) == fingerprint) key = &candidate;
  }
  if (key == nullptr) {
    return Status::NotFound("the secret was sealed with a key this node does not hold (" +
                            std::string(fingerprint) + ")");
  }
  std::vector<uint8_t> bytes(body.size());
  size_t length = 0;
  if (sodium_base642bin(bytes.data(), bytes.size(), body.data(), body.size(), nullptr, &length,
                        nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      length < crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                   crypto_aead_xchacha20poly1305_ietf_ABYTES) {
    return Status::Corruption("a sealed secret's body is not valid");
  }
  std::string secret(length - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES -
                         crypto_aead_xchacha20poly1305_ietf_ABYTES,
                     '\0');
  SecretKey derived = DeriveKey(*key);
  unsigned long long opened = 0;
  const int result = crypto_aead_xchacha20poly1305_ietf_decrypt(
      reinterpret_cast<uint8_t*>(secret.data()), &opened, nullptr,
      bytes.data() + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
      length - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
      reinterpret_cast<const uint8_t*>(name.data()), name.size(), bytes.data(), derived.data());
  sodium_memzero(derived.data(), derived.size());
  if (result != 0) {
    return Status::Corruption("a sealed secret did not open (tampered with, or not " +
                              std::string(name) + "'s)");
  }
  return secret;
}

bool SealedWithPrimary(const net::Keyring& keyring, std::string_view sealed) {
  const std::string prefix =
      std::string(kVersion) + "." + net::Keyring::Fingerprint(keyring.primary()) + ".";
  return sealed.starts_with(prefix);
}

std::string NewPassword(size_t length) {
  if (sodium_init() < 0) std::abort();
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string password(length, '\0');
  for (char& c : password) c = kAlphabet[randombytes_uniform(kAlphabet.size())];
  return password;
}

}  // namespace starling::auth
