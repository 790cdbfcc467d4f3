// src/db/galera_config.h — the option file a db node's mariadbd runs with (DESIGN.md §10): one
// Galera member, its data under the agent's data dir, its ports from the [db] table. Pure: text
// in, text out; the supervisor writes it (0600: it holds the SST password) and starts mariadbd
// with --defaults-file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace starling::db {

struct GaleraOptions {
  std::string node_name;        // wsrep_node_name: the agent's node name
  std::string host;             // the node's advertised address: clients, Galera, IST and SST
  uint16_t port = 3306;         // MariaDB's client port (the endpoints and the agent connect)
  uint16_t galera_port = 4567;  // group communication
  uint16_t ist_port = 4568;     // incremental state transfer
  uint16_t sst_port = 4444;     // full state transfer (mariabackup)
  std::string data_dir;         // the database's files
  std::string run_dir;          // socket, pid file, error log
  std::string user;             // the system user mariadbd runs as ("" : the agent's)
  std::string cluster_name = "starling";
  std::vector<std::string> peers;  // other members' host:galera_port; empty with bootstrap
  bool bootstrap = false;          // form a new Primary component (--wsrep-new-cluster)
  std::string sst_user = "starling_sst";
  std::string sst_password;       // REQUIRES: non-empty
  uint32_t buffer_pool_mb = 128;  // innodb_buffer_pool_size
  uint32_t gcache_mb = 128;       // Galera's write-set cache: how far behind IST still reaches
  uint32_t max_connections = 200;
  // How long a silent member may stall the others' commits before it is evicted
  // (evs.suspect_timeout; Galera's default 5 s). Every commit waits for every member, so this,
  // plus the check period and the new view's formation, is the dark time of writes when a
  // member dies: 1.5 s here (1 s kept three members from forming a cluster on a loaded 2-core
  // machine, during their state transfers), with keepalives, inactivity checks and join
  // retransmissions every 0.2 s (Galera's defaults 1 s, 0.5 s and 1 s: the view after an
  // eviction waited for a join retransmission; dark 2.5-3.7 s before, 1.7-1.9 s after, in
  // scripts/bench/db); a member evicted by mistake rejoins by IST.
  uint32_t suspect_timeout_ms = 1500;
  std::string provider = "/usr/lib/galera/libgalera_smm.so";
};

// Whether the options can be written out: names and addresses without anything the option
// file's syntax would read differently, ports distinct, sizes in range. InvalidArgument with
// what is wrong.
Status Validate(const GaleraOptions& options);

// The option file ([mariadbd] group) for `options`. REQUIRES: Validate(options).ok().
std::string RenderOptionFile(const GaleraOptions& options);

// Its temporary files' directory (run_dir/tmp): its own, not /tmp, where servers beside it (and
// their installs) would collide on temporary table names.
std::string TmpDir(const GaleraOptions& options);

// The socket mariadbd listens on for the agent (run_dir/mariadb.sock).
std::string SocketPath(const GaleraOptions& options);

}  // namespace starling::db
