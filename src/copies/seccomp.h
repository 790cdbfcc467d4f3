// src/copies/seccomp.h — the system calls a copy may not make (docs/SECURITY.md), as the OCI
// runtime's linux.seccomp: what would let a site's code out of its namespaces or into the kernel's
// less-trodden parts. Everything else is allowed.
//
// Against the anchor, the default profile container runtimes ship (Docker's, containers-common's):
// those list what is allowed and refuse the rest; for a container without CAP_SYS_ADMIN (as a
// copy is) both refuse every call named here, and Docker's also refuses new or rare calls nobody
// listed. This profile is a deny list (as LXC's default is) so that a site's PHP or Apache never
// meets a refused call that the kernel added after the list was written; what it cannot refuse
// by name, the copy's missing capabilities refuse (no CAP_SYS_ADMIN, CAP_SYS_MODULE, ...).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace starling::copies {

// Calls refused with EPERM.
const std::vector<std::string>& DeniedSyscalls();
// clone() flags that make a new namespace: clone with any of them is refused (EPERM); clone3,
// whose flags seccomp cannot read, answers ENOSYS so that libc falls back to clone.
unsigned long NamespaceCloneFlags();

// The linux.seccomp object of a copy's config.json, for this machine's architecture (and the
// 32-bit ones its kernel also runs, so a call cannot slip past by its other number).
nlohmann::json SeccompProfile();

}  // namespace starling::copies
