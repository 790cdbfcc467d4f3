// src/auth/cluster_credential.h — an API call authenticated with the cluster key: agents calling
// each other's APIs, and an operator on a node who holds the key file. The credential is the
// request's method, path and body hash sealed with the keyring (src/net/sealer.h): it expires
// with the replay window, is accepted once, and cannot be moved to another request.
//
// Header: "Authorization: Starling-Key <base64 of the sealed bytes>".
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "src/net/sealer.h"

namespace starling::auth {

inline constexpr std::string_view kClusterScheme = "Starling-Key ";

// The Authorization header's value for one request. `path` is without the query and
// percent-decoded, as the server sees it.
std::string ClusterCredential(net::Sealer& sealer, std::string_view method, std::string_view path,
                              std::string_view body, int64_t now_ms);

// Ok when `credential` (after the scheme) was sealed by a holder of the keyring for exactly this
// request; kUnauthenticated otherwise.
Status VerifyClusterCredential(net::Sealer& sealer, std::string_view credential,
                               std::string_view method, std::string_view path,
                               std::string_view body, int64_t now_ms);

}  // namespace starling::auth
