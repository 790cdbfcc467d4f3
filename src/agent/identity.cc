#include "src/agent/identity.h"

#include <toml++/toml.h>

#include <filesystem>
#include <sstream>

#include "base/file.h"

namespace starling::agent {

Result<uint32_t> RestoreIncarnation(const AgentConfig& config) {
  const auto path = std::filesystem::path(config.data_dir) / "identity.toml";
  if (!std::filesystem::exists(path)) return uint32_t{0};
  try {
    auto identity = toml::parse_file(path.string());
    const auto name = identity["node_name"].value<std::string>();
    const auto incarnation = identity["incarnation"].value<int64_t>();
    if (!name || !incarnation || *incarnation < 0 || *incarnation > UINT32_MAX - 1) {
      return Status::Corruption(path.string() + " is damaged (node_name, incarnation)");
    }
    if (*name != config.node_name) {
      return Status::FailedPrecondition(path.string() + " belongs to node '" + *name + "', not '" +
                                        config.node_name + "'");
    }
    return static_cast<uint32_t>(*incarnation);
  } catch (const toml::parse_error& error) {
    return Status::Corruption(path.string() + ": " + std::string(error.description()));
  }
}

Status WriteIdentity(const AgentConfig& config, uint32_t incarnation) {
  toml::table identity{{"node_name", config.node_name},
                       {"incarnation", static_cast<int64_t>(incarnation)}};
  std::ostringstream text;
  text << "# Written by starling agent. The incarnation only grows.\n" << identity << "\n";
  return WriteFileAtomically(std::filesystem::path(config.data_dir) / "identity.toml", text.str(),
                             0644);
}

std::string KeyringPath(const AgentConfig& config) {
  return (std::filesystem::path(config.data_dir) / "keyring").string();
}

Result<net::Keyring> LoadKeyring(const AgentConfig& config) {
  const std::string path = KeyringPath(config);
  const bool have_keyring = std::filesystem::exists(path);
  // The key opens every frame and credential: one that others may read is no secret.
  auto text = ReadPrivateFile(have_keyring ? path : config.key_file, "the key file");
  if (!text.ok()) return text.status();
  auto keyring = net::Keyring::Parse(*text);
  if (!keyring.ok()) return keyring.status();
  if (!have_keyring) {
    if (Status s = WriteFileAtomically(path, keyring->Serialize(), 0600); !s.ok()) return s;
  }
  return keyring;
}

}  // namespace starling::agent
