#include "src/agent/api_identity.h"

#include <algorithm>
#include <filesystem>

#include "base/file.h"
#include "src/auth/api_tls.h"

namespace starling::agent {
namespace {

bool IsWildcard(const std::string& host) { return host == "0.0.0.0" || host == "::"; }

}  // namespace

std::vector<std::string> ApiCertificateNames(const AgentConfig& config) {
  std::vector<std::string> names;
  auto add = [&](const std::string& name) {
    if (name.empty() || IsWildcard(name) || !auth::IsCertificateName(name)) return;
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  };
  add(config.api.host);
  add(config.advertise.host);
  add(config.bind.host);
  for (const auto& host : config.api_hosts) add(host);
  add(config.node_name);
  for (const char* loopback : {"localhost", "127.0.0.1", "::1"}) add(loopback);
  return names;
}

std::string ApiCaPath(const AgentConfig& config) {
  return (std::filesystem::path(config.data_dir) / "api-ca.pem").string();
}

Result<std::optional<api::TlsIdentity>> LoadApiIdentity(const AgentConfig& config,
                                                        const net::Keyring& keyring,
                                                        int64_t now_s) {
  // Written whether or not this node serves TLS: the CLI on it trusts this file when it asks
  // members that do.
  auto bundle = auth::ClusterCaBundle(keyring.keys());
  if (!bundle.ok()) return bundle.status();
  if (Status s = WriteFileAtomically(ApiCaPath(config), *bundle, 0644); !s.ok()) return s;
  if (!ApiUsesTls(config)) return std::optional<api::TlsIdentity>();
  if (!config.api_cert.empty()) {
    auto cert = ReadFile(config.api_cert);
    if (!cert.ok()) return Status::NotFound("cannot read api_cert " + config.api_cert);
    auto key = ReadPrivateFile(config.api_key, "api_key");
    if (!key.ok()) return key.status();
    return std::optional<api::TlsIdentity>(api::TlsIdentity{*cert, *key});
  }
  auto issued = auth::IssueServerCertificate(keyring.primary(), config.node_name,
                                             ApiCertificateNames(config), now_s);
  if (!issued.ok()) return issued.status();
  return std::optional<api::TlsIdentity>(api::TlsIdentity{issued->cert_pem, issued->key_pem});
}

}  // namespace starling::agent
