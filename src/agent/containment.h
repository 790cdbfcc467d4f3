// src/agent/containment.h — what a node prepares, once at its start, before copies under an OCI
// runtime may run contained (docs/SECURITY.md): the copies' firewall, and what their user
// namespaces need of the host. An error says why this node runs no copies, and how to opt out.
#pragma once

#include <memory>
#include <string_view>

#include "base/status.h"
#include "src/agent/config.h"
#include "src/agent/isolation.h"

namespace starling::agent {

// The copies' firewall, applied before any copy starts; null when none is wanted (the process
// driver, or copies.isolate_network = false: a table an earlier run of this node left is then
// removed). `driver`: the copies' driver's name.
Result<std::unique_ptr<Isolation>> StartIsolation(const AgentConfig& config,
                                                  std::string_view driver);

// Copies in user namespaces (src/copies/id_range.h): their runtime reaches each copy's root as
// the copy's own unprivileged root, so every directory above <data_dir>/copies must let others
// pass (search, not read): the data dir and the copies dir are made 0711, and one further up
// that does not is named in the error. Idmapped mounts are tried once here, so that a host
// without them hears it at start rather than at every copy's.
Status PrepareUserNamespaces(const AgentConfig& config, std::string_view driver);

}  // namespace starling::agent
