// src/db/connection.h — the agent's client of a MariaDB server, on MariaDB Connector/C: health
// checks, users and schemas (DESIGN.md §10). Blocking, with timeouts on connect, read and write:
// use it off the io thread (the agent's background worker). One connection per object; not
// thread-safe.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

struct st_mysql;

namespace starling::db {

struct ConnectOptions {
  std::string socket;         // a unix socket (the agent's own node), or
  std::string host;           // a TCP host with
  unsigned port = 3306;       // its port
  std::string user = "root";  // root over the socket: unix-socket authentication
  std::string password;
  std::string database;    // empty: none
  unsigned timeout_s = 2;  // connect, read and write, each
};

using Row = std::vector<std::optional<std::string>>;  // NULL is nullopt

class Connection {
 public:
  // Connects; kUnavailable (with the server's words) when it cannot.
  static Result<std::unique_ptr<Connection>> Open(const ConnectOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs a statement that returns no rows.
  Status Execute(std::string_view sql);
  // Runs a query; its rows.
  Result<std::vector<Row>> Query(std::string_view sql);
  // Two-column rows as name → value (SHOW STATUS, SHOW VARIABLES).
  Result<std::map<std::string, std::string>> QueryPairs(std::string_view sql);
  // `text` as a quoted SQL string literal, escaped for this connection's character set.
  std::string Quote(std::string_view text);

 private:
  explicit Connection(st_mysql* handle) : handle_(handle) {}
  Status Error(std::string_view what) const;
  st_mysql* handle_;
};

// Whether `name` may be used unquoted as a schema or user name: 1-64 of [a-z0-9_], not starting
// with a digit (site names map to it by '-' → '_').
bool IsSafeIdentifier(std::string_view name);

}  // namespace starling::db
