#include "src/db/galera_config.h"

#include <fmt/format.h>

#include <cctype>
#include <filesystem>
#include <set>

namespace starling::db {
namespace {

// A value the option file takes as written: no spaces, quotes, comment or escape characters,
// nothing outside printable ASCII.
bool IsPlainValue(const std::string& value) {
  if (value.empty() || value.size() > 255) return false;
  for (unsigned char c : value) {
    if (c <= ' ' || c >= 0x7f || c == '"' || c == '\'' || c == '#' || c == ';' || c == '\\' ||
        c == ',') {
      return false;
    }
  }
  return true;
}

bool IsHostPort(const std::string& value) {
  const size_t colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == value.size()) return false;
  for (size_t i = colon + 1; i < value.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(value[i]))) return false;
  }
  return IsPlainValue(value);
}

std::string HostPort(const std::string& host, uint16_t port) {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                             : fmt::format("{}:{}", host, port);
}

}  // namespace

Status Validate(const GaleraOptions& options) {
  auto bad = [](const std::string& what) { return Status::InvalidArgument("db: " + what); };
  if (!IsPlainValue(options.node_name)) return bad("the node name cannot name a Galera member");
  if (!IsPlainValue(options.host)) return bad("the host must be an address");
  if (!IsPlainValue(options.cluster_name)) return bad("the cluster name must be a plain word");
  if (!IsPlainValue(options.sst_user)) return bad("the SST user must be a plain word");
  if (!IsPlainValue(options.sst_password)) return bad("the SST password must be a plain word");
  for (const std::string* path : {&options.data_dir, &options.run_dir, &options.provider}) {
    if (!IsPlainValue(*path) || !std::filesystem::path(*path).is_absolute()) {
      return bad("'" + *path + "' must be an absolute path without spaces");
    }
  }
  if (!options.user.empty() && !IsPlainValue(options.user)) return bad("bad system user");
  const std::set<uint16_t> ports = {options.port, options.galera_port, options.ist_port,
                                    options.sst_port};
  if (ports.size() != 4 || ports.contains(0)) return bad("the four ports must differ, none 0");
  for (const auto& peer : options.peers) {
    if (!IsHostPort(peer)) return bad("peer '" + peer + "' must be host:port");
  }
  if (!options.bootstrap && options.peers.empty()) return bad("a joining node needs peers");
  if (options.buffer_pool_mb < 16 || options.buffer_pool_mb > 1u << 20) {
    return bad("buffer_pool_mb must be 16-1048576");
  }
  if (options.gcache_mb < 16 || options.gcache_mb > 1u << 20) {
    return bad("gcache_mb must be 16-1048576");
  }
  if (options.suspect_timeout_ms < 1000 || options.suspect_timeout_ms > 60000) {
    return bad("suspect_timeout_ms must be 1000-60000");
  }
  if (options.max_connections < 10 || options.max_connections > 100000) {
    return bad("max_connections must be 10-100000");
  }
  return Status::Ok();
}

std::string TmpDir(const GaleraOptions& options) {
  return (std::filesystem::path(options.run_dir) / "tmp").string();
}

std::string SocketPath(const GaleraOptions& options) {
  return (std::filesystem::path(options.run_dir) / "mariadb.sock").string();
}

std::string RenderOptionFile(const GaleraOptions& options) {
  std::string peers;
  if (!options.bootstrap) {
    for (const auto& peer : options.peers) peers += (peers.empty() ? "" : ",") + peer;
  }
  const std::filesystem::path run = options.run_dir;
  std::string text = fmt::format(
      "# Written by the Starling agent at each start of this node's mariadbd: edits are lost.\n"
      "[mariadbd]\n"
      "datadir={data}\n"
      "socket={socket}\n"
      "pid-file={pid}\n"
      "log-error={log}\n"
      "tmpdir={tmp}\n"
      "bind-address={host}\n"
      "port={port}\n"
      "skip-name-resolve\n"
      "max_connections={max_connections}\n"
      "binlog_format=ROW\n"
      "default_storage_engine=InnoDB\n"
      "innodb_autoinc_lock_mode=2\n"
      "innodb_buffer_pool_size={buffer_pool}M\n"
      "innodb_flush_log_at_trx_commit=1\n"
      "wsrep_on=ON\n"
      "wsrep_provider={provider}\n"
      "wsrep_cluster_name={cluster}\n"
      "wsrep_cluster_address=gcomm://{peers}\n"
      "wsrep_node_name={node}\n"
      "wsrep_node_address={galera}\n"
      "wsrep_provider_options=\"base_host={host};base_port={galera_port};"
      "ist.recv_addr={ist};gcache.size={gcache}M;evs.keepalive_period=PT0.2S;"
      "evs.inactive_check_period=PT0.2S;evs.join_retrans_period=PT0.2S;evs.suspect_timeout=PT{"
      "suspect:.1f}S;"
      "evs.inactive_timeout=PT{inactive:.1f}S;evs.install_timeout=PT{inactive:.1f}S\"\n"
      "wsrep_sst_method=mariabackup\n"
      "wsrep_sst_auth={sst_user}:{sst_password}\n"
      "wsrep_sst_receive_address={sst}\n",
      fmt::arg("data", options.data_dir), fmt::arg("socket", SocketPath(options)),
      fmt::arg("pid", (run / "mariadb.pid").string()),
      fmt::arg("log", (run / "mariadb.err").string()), fmt::arg("tmp", TmpDir(options)),
      fmt::arg("host", options.host), fmt::arg("port", options.port),
      fmt::arg("max_connections", options.max_connections),
      fmt::arg("buffer_pool", options.buffer_pool_mb), fmt::arg("provider", options.provider),
      fmt::arg("cluster", options.cluster_name), fmt::arg("peers", peers),
      fmt::arg("node", options.node_name),
      fmt::arg("galera", HostPort(options.host, options.galera_port)),
      fmt::arg("galera_port", options.galera_port),
      fmt::arg("ist", HostPort(options.host, options.ist_port)),
      fmt::arg("gcache", options.gcache_mb),
      fmt::arg("suspect", options.suspect_timeout_ms / 1000.0),
      fmt::arg("inactive", 2 * options.suspect_timeout_ms / 1000.0),
      fmt::arg("sst_user", options.sst_user), fmt::arg("sst_password", options.sst_password),
      fmt::arg("sst", HostPort(options.host, options.sst_port)));
  if (!options.user.empty()) text += "user=" + options.user + "\n";
  return text;
}

}  // namespace starling::db
