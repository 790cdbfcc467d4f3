// store/images/hash.h — chunk and manifest names: SHA-256 (OpenSSL, which uses the CPU's SHA
// instructions: ~1 GB/s here, faster than BLAKE2b from libsodium; docs/DESIGN.md §15).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace starling::images {

using Hash = std::array<uint8_t, 32>;

Hash Sha256(std::span<const uint8_t> bytes);
inline Hash Sha256(std::string_view bytes) {
  return Sha256(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}
std::string Hex(const Hash& hash);

}  // namespace starling::images
