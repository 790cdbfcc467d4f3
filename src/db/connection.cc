#include "src/db/connection.h"

#include <mysql.h>

#include <cctype>

namespace starling::db {

Result<std::unique_ptr<Connection>> Connection::Open(const ConnectOptions& options) {
  MYSQL* handle = mysql_init(nullptr);
  if (handle == nullptr) return Status::IoError("cannot start a MariaDB client");
  const unsigned timeout = options.timeout_s;
  mysql_options(handle, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  mysql_options(handle, MYSQL_OPT_READ_TIMEOUT, &timeout);
  mysql_options(handle, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
  // No option files: what the agent connects with is what it says here.
  const char* where = options.socket.empty() ? options.host.c_str() : "localhost";
  if (mysql_real_connect(handle, where, options.user.c_str(),
                         options.password.empty() ? nullptr : options.password.c_str(),
                         options.database.empty() ? nullptr : options.database.c_str(),
                         options.socket.empty() ? options.port : 0,
                         options.socket.empty() ? nullptr : options.socket.c_str(),
                         CLIENT_MULTI_RESULTS) == nullptr) {
    const std::string error = mysql_error(handle);
    mysql_close(handle);
    return Status::Unavailable("cannot reach MariaDB at " +
                               (options.socket.empty()
                                    ? options.host + ":" + std::to_string(options.port)
                                    : options.socket) +
                               ": " + error);
  }
  return std::unique_ptr<Connection>(new Connection(handle));
}

Connection::~Connection() { mysql_close(handle_); }

Status Connection::Error(std::string_view what) const {
  const unsigned code = mysql_errno(handle_);
  const std::string message = std::string(what) + ": " + mysql_error(handle_);
  // 2000-2999: the client's own errors (the server gone, a timeout); others are the server's.
  if (code >= 2000 && code < 3000) return Status::Unavailable(message);
  return Status::FailedPrecondition(message);
}

Status Connection::Execute(std::string_view sql) {
  if (mysql_real_query(handle_, sql.data(), sql.size()) != 0) return Error("MariaDB refused");
  // A statement may still answer with rows (or several results): read and drop them.
  do {
    MYSQL_RES* result = mysql_store_result(handle_);
    if (result != nullptr) mysql_free_result(result);
  } while (mysql_next_result(handle_) == 0);
  if (mysql_errno(handle_) != 0) return Error("MariaDB refused");
  return Status::Ok();
}

Result<std::vector<Row>> Connection::Query(std::string_view sql) {
  if (mysql_real_query(handle_, sql.data(), sql.size()) != 0) return Error("MariaDB refused");
  MYSQL_RES* result = mysql_store_result(handle_);
  if (result == nullptr) {
    if (mysql_errno(handle_) != 0) return Error("MariaDB refused");
    return std::vector<Row>();
  }
  std::vector<Row> rows;
  const unsigned fields = mysql_num_fields(result);
  while (MYSQL_ROW row = mysql_fetch_row(result)) {
    const unsigned long* lengths = mysql_fetch_lengths(result);
    Row out;
    for (unsigned i = 0; i < fields; ++i) {
      if (row[i] == nullptr) {
        out.push_back(std::nullopt);
      } else {
        out.push_back(std::string(row[i], lengths[i]));
      }
    }
    rows.push_back(std::move(out));
  }
  mysql_free_result(result);
  while (mysql_next_result(handle_) == 0) {
    if (MYSQL_RES* more = mysql_store_result(handle_)) mysql_free_result(more);
  }
  return rows;
}

Result<std::map<std::string, std::string>> Connection::QueryPairs(std::string_view sql) {
  auto rows = Query(sql);
  if (!rows.ok()) return rows.status();
  std::map<std::string, std::string> pairs;
  for (const auto& row : *rows) {
    if (row.size() >= 2 && row[0]) pairs[*row[0]] = row[1].value_or("");
  }
  return pairs;
}

std::string Connection::Quote(std::string_view text) {
  std::string escaped(text.size() * 2 + 1, '\0');
  const unsigned long length =
      mysql_real_escape_string(handle_, escaped.data(), text.data(), text.size());
  escaped.resize(length);
  return "'" + escaped + "'";
}

bool IsSafeIdentifier(std::string_view name) {
  if (name.empty() || name.size() > 64 || std::isdigit(static_cast<unsigned char>(name[0]))) {
    return false;
  }
  for (char c : name) {
    if (!std::islower(static_cast<unsigned char>(c)) &&
        !std::isdigit(static_cast<unsigned char>(c)) && c != '_') {
      return false;
    }
  }
  return true;
}

}  // namespace starling::db
