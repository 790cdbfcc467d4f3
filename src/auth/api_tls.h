// src/auth/api_tls.h — the API's TLS certificates when the operator gives none: the cluster
// issues them from its key (docs/SECURITY.md). No I/O.
//
// Every node derives the same certificate authority from the cluster's primary key: an Ed25519
// key whose seed is BLAKE2b keyed with the cluster key over a fixed label, a fixed serial,
// validity and name, and Ed25519's deterministic signature — so the CA certificate is the same
// bytes on every node, and a client holding the cluster key can derive it too (any other client
// is handed its PEM). Each node issues its own server certificate with it at start: a fresh key,
// its names and addresses as subject alternative names, a year's validity.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "src/net/sealer.h"

namespace starling::auth {

// The cluster's CA certificate (PEM), derived from `cluster_key`.
Result<std::string> ClusterCaPem(const net::Key& cluster_key);

// The CAs of every key in a keyring, one PEM after another: what a client trusts while the
// cluster's keys rotate (a node's certificate is issued by the primary key it started with).
Result<std::string> ClusterCaBundle(const std::vector<net::Key>& cluster_keys);

// Whether a certificate can name `name`: an IP literal or a DNS name.
bool IsCertificateName(const std::string& name);

struct ServerCertificate {
  std::string ca_pem;    // the cluster's CA (what clients trust)
  std::string cert_pem;  // the node's certificate, issued by the CA
  std::string key_pem;   // its private key (PKCS#8)
};

// Issues a server certificate for node `node_name`, valid from an hour before `now_s` (Unix
// seconds) for 398 days, naming each of `names` (IP literals become IP entries, anything else a
// DNS entry; an empty list: the node name alone). InvalidArgument for a name that is neither.
Result<ServerCertificate> IssueServerCertificate(const net::Key& cluster_key,
                                                 const std::string& node_name,
                                                 const std::vector<std::string>& names,
                                                 int64_t now_s);

// Whether `cert_pem` was issued by `ca_pem` and names `host` (an IP literal or a DNS name), at
// `now_s`. What a client checks; Ok or why not.
Status VerifyServerCertificate(std::string_view ca_pem, std::string_view cert_pem,
                               const std::string& host, int64_t now_s);

}  // namespace starling::auth
