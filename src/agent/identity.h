// src/agent/identity.h — what a node keeps about itself in its data dir between lives: its name
// and the last incarnation it used ("identity.toml": a restarted node must out-rank everything it
// said before), and its keyring ("keyring": rotations made at run time win over the configured
// key file).
#pragma once

#include <cstdint>

#include "base/status.h"
#include "src/agent/config.h"
#include "src/net/sealer.h"

namespace starling::agent {

// The incarnation the data dir records (0 for a new one). An identity of another node name is
// refused: two nodes must never share a data dir.
Result<uint32_t> RestoreIncarnation(const AgentConfig& config);
// Records `incarnation` (atomically, fsync'd: blocking).
Status WriteIdentity(const AgentConfig& config, uint32_t incarnation);
// The keyring: the data dir's if there is one, else the key file's (then copied into the data
// dir, 0600).
Result<net::Keyring> LoadKeyring(const AgentConfig& config);
// Where the data dir keeps the keyring.
std::string KeyringPath(const AgentConfig& config);

}  // namespace starling::agent
