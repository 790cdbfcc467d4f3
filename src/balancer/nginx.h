// src/balancer/nginx.h — what a balancer node tells nginx (DESIGN.md §9): pure functions from
// the view to nginx's configuration text and to the upstream table the Lua module reads.
//
// Two modes. `kLua`: one server block per site (its domains), one dynamic upstream whose
// balancer_by_lua picks a peer from a shared dictionary the agent fills over a control listener
// on loopback — copy changes need no reload, only domain changes do. `kReload`: plain nginx,
// an upstream block per site with its servers listed; every change is a rewrite and a reload.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gossip/types.h"

namespace starling::balancer {

enum class Mode : uint8_t { kLua, kReload };

struct SiteDomains {
  std::string name;
  std::vector<std::string> domains;
  uint32_t max_body_mb = 16;  // client_max_body_size
  bool operator==(const SiteDomains&) const = default;
};

// site → "host:port" of each serving copy not draining, sorted.
using Upstreams = std::map<std::string, std::vector<std::string>>;

struct WorkerCopies {
  std::string host;  // the worker's advertised host
  std::vector<gossip::CopyLoad> copies;
  bool suspect = false;  // the worker is suspected of having failed
};

// The upstreams from the live workers' reports: serving, not draining, of known sites only.
// A suspect worker's copies are left out while the site has copies on unsuspected workers (a
// worker that died is out at its first suspicion), and kept when they are all it has (a
// false suspicion must not take a site off the air).
Upstreams BuildUpstreams(const std::vector<WorkerCopies>& workers,
                         const std::vector<SiteDomains>& sites);

struct NginxOptions {
  Mode mode = Mode::kLua;
  std::string prefix;   // nginx's -p: logs, pid, temp files live here
  std::string listen;   // "host:port" clients reach
  std::string control;  // "127.0.0.1:port" the agent pushes upstreams to (kLua)
  // What the control listener requires in X-Starling-Control ([0-9a-f], from the agent's start):
  // anything else on the host (a copy on a `both` node) gets 403. Empty: not checked.
  std::string control_secret;
  std::string modules_dir = "/usr/lib/nginx/modules";
  std::string user;  // worker processes' user, when nginx starts as root
  int worker_processes = 2;
  int retries = 3;  // proxy_next_upstream_tries (idempotent requests)
};

// nginx.conf for `sites` (in kReload mode with `upstreams` written in; kLua ignores them).
std::string RenderConfig(const NginxOptions& options, const std::vector<SiteDomains>& sites,
                         const Upstreams& upstreams);

// The body pushed to the control listener: {"generation": n, "sites": {site: [peers]}}.
std::string UpstreamsBody(uint64_t generation, const Upstreams& upstreams);

// An nginx-safe identifier for a site name ([a-z0-9-] → [a-z0-9_]).
std::string UpstreamName(const std::string& site);

}  // namespace starling::balancer
