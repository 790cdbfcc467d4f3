// src/copies/oci_bundle.h — the OCI runtime spec (config.json) of one copy, for runc or crun.
//
// The copy's root is its overlay (the image below, its own writable layer above); it shares the
// host's network (it listens on the port the node gave it, passed as PORT) and gets its own
// pid, mount, ipc and uts namespaces and its own cgroup: one CPU core (CFS quota = period), and
// the site's memory and pids limits. The process runs as root inside unless the image says
// otherwise; with an id range, in a user namespace, that root is an unprivileged host user (and
// the host's /sys is not mounted: sysfs belongs to a network namespace the copy does not own).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace starling::copies {

struct CopySpec {
  std::string id;                          // the container id, e.g. "starling-shop-7f3a"
  std::string root;                        // the copy's root directory (its overlay mount)
  std::vector<std::string> command;        // argv, from the image's metadata
  std::map<std::string, std::string> env;  // the image's environment; PORT is added
  std::string cwd = "/";
  uint16_t port = 0;
  double cpus = 1.0;                   // cores (CFS quota / period)
  uint64_t memory_bytes = 512u << 20;  // 0: no limit
  int64_t pids = 256;                  // 0: no limit
  std::string cgroup_path;             // e.g. "/starling/starling-shop-7f3a"
  // Its user namespace's root on the host (src/copies/id_range.h): uids and gids 0..65535 inside
  // are id_base.. outside. 0: no user namespace (the copy's root is the host's root).
  uint32_t id_base = 0;
  // A host file bound read-only at /etc/resolv.conf (the host's resolver for the copy's own
  // lookups: a site calling out by name); none when empty.
  std::string resolv_conf;
  // Host directories bound read-write into the root (host path → path in the copy): a site's
  // persisted paths on the files volume (src/files/site_dirs.h), nosuid and nodev.
  std::vector<std::pair<std::string, std::string>> binds;
};

// The config.json of `spec`.
nlohmann::json OciConfig(const CopySpec& spec);

}  // namespace starling::copies
