// src/auth/sealed_secret.h — secrets the state log keeps (a database user's password, the SST
// password), sealed with the cluster key: the log, its snapshots and gossip carry only
// ciphertext, and only a holder of the key reads them (DESIGN.md §10).
//
// Sealed form: "v1.<key fingerprint>.<base64 of nonce 24 | XChaCha20-Poly1305 ciphertext>", the
// key derived from a cluster key by BLAKE2b over a fixed label (so it is never the key that seals
// gossip), and the secret's name (its state-log key) bound as associated data: a sealed value
// copied under another name does not open. The fingerprint picks the keyring's key, so secrets
// sealed before a rotation open while their key is installed; reseal them before removing it.
// No I/O.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "src/net/sealer.h"

namespace starling::auth {

// `secret` sealed under the keyring's primary key, bound to `name`.
std::string SealSecret(const net::Keyring& keyring, std::string_view name, std::string_view secret);

// The secret in `sealed` (SealSecret's output for `name`). kCorruption when it is malformed or
// was tampered with or sealed for another name; kNotFound when no key of the keyring sealed it.
Result<std::string> OpenSecret(const net::Keyring& keyring, std::string_view name,
                               std::string_view sealed);

// Whether `sealed` was sealed under the keyring's primary key (else: reseal it).
bool SealedWithPrimary(const net::Keyring& keyring, std::string_view sealed);

// A new random password: `length` characters of [A-Za-z0-9] (uniform), from the OS's CSPRNG.
std::string NewPassword(size_t length = 32);

}  // namespace starling::auth
