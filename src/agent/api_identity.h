// src/agent/api_identity.h — the certificate the API serves TLS with (docs/SECURITY.md): the
// operator's (api_cert, api_key), or one the cluster issues from its key at start.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "src/agent/api/server.h"
#include "src/agent/config.h"
#include "src/net/sealer.h"

namespace starling::agent {

// The names a node's issued certificate carries: the API's, advertised and bound addresses
// (not wildcards), api_hosts, the node name when it is a host name, and loopback.
std::vector<std::string> ApiCertificateNames(const AgentConfig& config);

// Where the data dir keeps the cluster's CA certificates (PEM, one per key in the keyring): what
// the CLI on the node trusts when it asks the other members.
std::string ApiCaPath(const AgentConfig& config);

// Writes the keyring's CAs to ApiCaPath, and gives the API's TLS identity, or none when it is
// served without TLS (ApiUsesTls): the operator's files (the key must be private), else a
// certificate the CA of the keyring's primary key issues for ApiCertificateNames, valid from
// `now_s`. Blocking: at start, before the io thread runs.
Result<std::optional<api::TlsIdentity>> LoadApiIdentity(const AgentConfig& config,
                                                        const net::Keyring& keyring, int64_t now_s);

}  // namespace starling::agent
