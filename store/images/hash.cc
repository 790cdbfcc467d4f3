#include "store/images/hash.h"

#include <openssl/evp.h>

#include "base/status.h"

namespace starling::images {

Hash Sha256(std::span<const uint8_t> bytes) {
  Hash hash{};
  unsigned int length = 0;
  STARLING_CHECK(
      EVP_Digest(bytes.data(), bytes.size(), hash.data(), &length, EVP_sha256(), nullptr) == 1);
  return hash;
}

std::string Hex(const Hash& hash) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (uint8_t b : hash) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

}  // namespace starling::images
