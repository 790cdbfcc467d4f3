// src/agent/config.h — the agent's TOML configuration, validated once at start-up.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "gossip/options.h"
#include "gossip/types.h"
#include "src/agent/address.h"
#include "src/balancer/keepalived.h"
#include "src/rules/autoscale.h"

namespace starling::agent {

// [images]: how site images are kept and pulled (DESIGN.md §6).
struct ImagesConfig {
  uint32_t keep_versions = 3;      // newest versions kept per site; older ones are collected
  int max_in_flight = 6;           // chunk requests in flight at once
  int per_peer_in_flight = 2;      // of those, to one peer
  uint64_t bandwidth_bytes_s = 0;  // pulled plain bytes per second; 0 = unbounded
  bool materialize = true;         // write each held version out as a read-only tree
  uint32_t scrub_mb_s = 64;        // background re-verification of stored chunks; 0 = off
  uint32_t max_image_mb = 4096;    // a site image's file bytes (its quota); 0 = unbounded
  uint32_t max_expansion = 100;    // an archive's file bytes over its size; 0 = unbounded
  uint32_t min_free_mb = 256;      // a push leaves this much free on the chunk store's disk
};

// [copies]: how this node runs copies of sites (DESIGN.md §7–8).
struct CopiesConfig {
  std::string driver = "auto";  // auto (runc, then crun), runc, crun, process
  uint16_t first_port = 30000;  // copies listen on ports from this range (host networking)
  uint16_t last_port = 30999;
  Duration stop_grace = Seconds(10);  // SIGTERM, then this long, then SIGKILL
  // This node alone is the cluster: it decides before it has heard a peer (DESIGN.md §8).
  bool single_node = false;
  // Copies (under an OCI runtime) reach neither this node's own addresses nor any member's
  // (src/copies/firewall.h). Off only where nothing else guards the host (a lab machine).
  bool isolate_network = true;
  // Copies (under an OCI runtime) run in a user namespace: their root is an unprivileged host
  // user of their site's range (src/copies/id_range.h). Needs idmapped mounts (Linux 5.19+).
  bool user_namespaces = true;
  rules::AutoscaleOptions autoscale;  // the same on every node (the rules must agree)
};

// [balancer]: a balancer node's nginx (DESIGN.md §9); used when role is balancer or both.
struct BalancerConfig {
  std::string listen = "127.0.0.1:8080";   // where clients reach the sites
  std::string control = "127.0.0.1:8081";  // nginx's loopback listener the agent feeds
  std::string mode = "lua";                // lua (no reloads for copy changes) or reload
  std::string nginx = "nginx";             // the binary
  std::string user;                        // nginx workers' user (nginx's default if empty)
  int worker_processes = 2;
  int retries = 3;  // tries per idempotent request (proxy_next_upstream_tries)
  // The shared address (keepalived, VRRP; DESIGN.md §9). Empty vip: no keepalived.
  std::string vip;                        // "IP/prefix", e.g. "10.0.0.100/24"
  std::string interface;                  // where it lives, e.g. "eth0"
  std::vector<std::string> peers;         // the other balancers' IPs; empty: from gossip
  int priority = 100;                     // 1-254
  int router_id = 51;                     // 1-255, the same on the pair
  int advert_ms = 500;                    // VRRP advert interval; failover ≈ 3-4 adverts
  std::string keepalived = "keepalived";  // the binary
};

// [db]: a db node's MariaDB Galera member, and every worker's endpoint to it (DESIGN.md §10).
struct DbConfig {
  uint16_t port = 3306;         // MariaDB's client port, on the advertised host
  uint16_t galera_port = 4567;  // group communication
  uint16_t ist_port = 4568;     // incremental state transfer
  uint16_t sst_port = 4444;     // full state transfer (mariabackup)
  uint32_t buffer_pool_mb = 128;
  uint32_t gcache_mb = 128;
  uint32_t max_connections = 200;
  std::string mariadbd = "mariadbd";  // the server binary
  std::string user = "mysql";         // the system user it runs as
  // Workers: where the node's copies reach the database (HAProxy, src/db/endpoint.h).
  HostPort endpoint{"127.0.0.1", 3307};
  std::string haproxy = "haproxy";
  uint32_t max_import_mb = 4096;  // the largest dump `db import` takes (spooled to data_dir)
};

// Site files (issue 19, docs/FILES.md): storage nodes run glusterd and a brick of the volume;
// workers mount it.
struct FilesConfig {
  std::string brick_dir;         // the brick's directory; "" = data_dir/glusterfs/brick
  uint32_t ping_timeout_s = 10;  // how long clients wait for a dead brick before going on
  bool mount = true;             // workers mount the volume (copies of sites that persist need it)
};

struct AgentConfig {
  std::string node_name;               // unique in the cluster; [A-Za-z0-9._-], 1–64 chars
  HostPort bind{"127.0.0.1", 7946};    // UDP and TCP gossip
  HostPort advertise;                  // what others dial; defaults to bind
  HostPort api{"127.0.0.1", 7947};     // HTTP API (loopback by default)
  std::vector<std::string> api_hosts;  // Host names the API answers to besides IPs and localhost
  // TLS on the API (docs/SECURITY.md): "auto" is on unless `api` is loopback; "off" is refused
  // for any other address. With api_cert and api_key (PEM files) the operator's certificate,
  // else one the cluster issues from its key.
  enum class Tls { kAuto, kOn, kOff } api_tls = Tls::kAuto;
  std::string api_cert;
  std::string api_key;
  std::vector<std::string> join;    // host:port of nodes to join
  std::string key_file;             // base64 keys, primary first
  std::string profile = "default";  // default, lan, local, wan
  std::string data_dir;             // identity and keyring live here
  gossip::Role role = gossip::Role::kWorker;
  bool database = false;  // roles include "db": runs a member of the database cluster
  bool storage = false;   // roles include "storage": serves a brick of the site files' volume
  uint32_t capacity = 0;  // copy slots; 0 = number of CPUs
  int64_t replay_window_ms = 60000;  // accepted sender clock skew
  std::string log_level = "info";

  ImagesConfig images;
  CopiesConfig copies;
  BalancerConfig balancer;
  DbConfig db;
  FilesConfig files;

  gossip::SwimOptions swim;  // from `profile`
};

// Reads and validates a TOML file. Unknown keys are errors, so typos do not pass silently.
Result<AgentConfig> LoadConfig(const std::string& path);
// The keepalived options a balancer with this configuration writes, with `peers`.
balancer::VrrpOptions VrrpFor(const AgentConfig& config, std::vector<std::string> peers);
Result<AgentConfig> ParseConfig(std::string_view toml_text, const std::string& source_name);
// The "host:port"s peers may address this node by (its transport and datagrams): the advertised
// one, and the bound one unless that is a wildcard.
std::vector<std::string> SelfAddresses(const AgentConfig& config);

// Whether the API is served over TLS (api_tls, and for "auto" the address).
bool ApiUsesTls(const AgentConfig& config);
// The API's address as members advertise it: its URL, with the advertised host when the API
// listens on a wildcard.
std::string AdvertisedApi(const AgentConfig& config);

// The node's own API socket, for the operator on the node (root, no credential).
std::string LocalApiSocket(const AgentConfig& config);

}  // namespace starling::agent
