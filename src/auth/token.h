// src/auth/token.h — API tokens (docs/SECURITY.md): who may call the API and what they may do.
// No I/O; IssueToken draws its secret from libsodium's CSPRNG. A token is "stk.<name>.<secret>",
// the secret 32 random bytes in base64url; the state log keeps only its BLAKE2b-256 hash
// ("token/<name>"), so reading the log gives no token. A random 256-bit secret needs no slow hash:
// nothing guessable is being protected.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace starling::auth {

// What a credential may do, each role including the ones below it.
enum class Role : uint8_t {
  kReadonly = 0,  // read everything but secrets
  kOperator = 1,  // and manage sites, images, copies, drains
  kAdmin = 2,     // and tokens, the keyring, joining and leaving, setuid images
};
std::string_view RoleName(Role role);
Result<Role> ParseRole(std::string_view name);

// A token as the state log keeps it.
struct TokenRecord {
  std::string name;
  Role role = Role::kReadonly;
  std::string site;  // non-empty: the token acts on this site only (a hosting customer's)
  std::string hash;  // hex BLAKE2b-256 of the secret
  uint64_t created_ms = 0;
  std::string created_by;

  std::string Encode() const;  // JSON
  static Result<TokenRecord> Decode(std::string_view name, std::string_view json);
};

// A token presented by a client, split into its parts.
struct Presented {
  std::string name;
  std::string secret;
};
// Parses "stk.<name>.<secret>"; kUnauthenticated when it is not one.
Result<Presented> ParseToken(std::string_view text);

// A new token for `name`: the text to hand to its holder (shown once), and its record.
struct Issued {
  std::string token;
  TokenRecord record;
};
// REQUIRES: `name` and `site` (when set) are valid names.
Issued IssueToken(std::string name, Role role, std::string site, uint64_t now_ms,
                  std::string created_by);

// Whether `secret` is the one `record` was issued with (constant time).
bool Verifies(const TokenRecord& record, std::string_view secret);

}  // namespace starling::auth
