// src/auth/cluster_credential.h — an API call authenticated with the cluster key: agents calling
// each other's APIs, and an operator on a node who holds the key file. The credential is the
// request's method, path and body hash sealed with the keyring (src/net/sealer.h): it expires
// with the replay window, is accepted once, and cannot be moved to another request.
//
// Header: "Authorization: Starling-Key <base64 of the sealed bytes>".
#pragma once

#include <sodium.h>

#include <string>
#include <string_view>

#include "base/status.h"
#include "src/net/sealer.h"

namespace starling::auth {

inline constexpr std::string_view kClusterScheme = "Starling-Key ";

// The hash a credential names a request's body by: BLAKE2b-256, hex. Fed as the body comes, so
// an upload is hashed without being held.
class BodyHasher {
 public:
  BodyHasher();
  void Update(std::string_view bytes);
  // The hex digest. REQUIRES: called once.
  std::string Hex();

 private:
  crypto_generichash_state state_;
};
std::string BodyHash(std::string_view body);

// The Authorization header's value for one request. `path` is without the query and
// percent-decoded, as the server sees it; `body_hash` is BodyHash of the body.
std::string ClusterCredential(net::Sealer& sealer, std::string_view method, std::string_view path,
                              std::string_view body_hash, int64_t now_ms);

// Ok when `credential` (after the scheme) was sealed by a holder of the keyring for exactly this
// request; kUnauthenticated otherwise.
Status VerifyClusterCredential(net::Sealer& sealer, std::string_view credential,
                               std::string_view method, std::string_view path,
                               std::string_view body_hash, int64_t now_ms);

}  // namespace starling::auth
