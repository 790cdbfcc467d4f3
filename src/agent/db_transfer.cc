#include "src/agent/db_transfer.h"

#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "src/agent/address.h"
#include "src/agent/site_database.h"
#include "src/db/connection.h"
#include "src/process/run.h"
#include "src/sites/site.h"
#include "src/state/keys.h"

namespace starling::agent {
namespace fs = std::filesystem;

namespace {

constexpr auto kImportTimeout = Seconds(3600);

// Writes `login` as a new 0600 option file in `work_dir`; its path.
Result<std::string> WriteOptionFile(const db::ClientLogin& login, const std::string& work_dir) {
  std::string path = work_dir + "/client-XXXXXX";
  const int fd = ::mkstemp(path.data());  // 0600, a name of its own
  if (fd < 0) return Status::IoError("cannot write an option file in " + work_dir);
  const std::string text = db::ClientOptionFile(login);
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!written) {
    ::unlink(path.c_str());
    return Status::IoError("cannot write an option file in " + work_dir);
  }
  return path;
}

// Removes a file when it goes out of scope.
struct RemovedAtEnd {
  std::string path;
  ~RemovedAtEnd() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

Status CheckDump(const std::string& dump_file, uint64_t* bytes) {
  std::ifstream in(dump_file, std::ios::binary);
  if (!in) return Status::IoError("cannot read the uploaded dump");
  db::DumpChecker checker;
  std::vector<char> buffer(1 << 20);
  *bytes = 0;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = static_cast<size_t>(in.gcount());
    if (got == 0) break;
    *bytes += got;
    if (Status s = checker.Feed(std::string_view(buffer.data(), got)); !s.ok()) return s;
  }
  if (*bytes == 0) return Status::InvalidArgument("the dump is empty");
  return checker.Finish();
}

// The names in the first column of `sql`'s rows.
Result<std::vector<std::string>> Names(db::Connection& connection, const std::string& sql) {
  auto rows = connection.Query(sql);
  if (!rows.ok()) return rows.status();
  std::vector<std::string> names;
  for (const auto& row : *rows) {
    if (!row.empty() && row[0]) names.push_back(*row[0]);
  }
  return names;
}

// What the staging schema holds, refused unless it is InnoDB tables only: Galera replicates no
// other engine, and RENAME TABLE moves no view, trigger or routine to another schema.
Result<std::vector<std::string>> StagedTables(db::Connection& connection,
                                              const std::string& staging) {
  const std::string in = connection.Quote(staging);
  auto rows = connection.Query(
      "SELECT TABLE_NAME, TABLE_TYPE, COALESCE(ENGINE, '') FROM information_schema.TABLES "
      "WHERE TABLE_SCHEMA = " +
      in + " ORDER BY TABLE_NAME");
  if (!rows.ok()) return rows.status();
  std::vector<std::string> tables;
  for (const auto& row : *rows) {
    const std::string name = row[0].value_or("");
    if (row[1].value_or("") != "BASE TABLE") {
      return Status::InvalidArgument("the dump makes the view " + name +
                                     ", which an import cannot move into place; import views "
                                     "with the mariadb client (db show --show-password)");
    }
    if (row[2].value_or("") != "InnoDB") {
      return Status::InvalidArgument("table " + name + " uses the " + row[2].value_or("?") +
                                     " engine; Galera replicates only InnoDB (change its ENGINE "
                                     "in the dump)");
    }
    tables.push_back(name);
  }
  for (const auto& [what, sql] :
       {std::pair{"trigger",
                  "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE "
                  "TRIGGER_SCHEMA = "},
        std::pair{"routine",
                  "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE "
                  "ROUTINE_SCHEMA = "},
        std::pair{"event",
                  "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE "
                  "EVENT_SCHEMA = "}}) {
    auto names = Names(connection, sql + in);
    if (!names.ok()) return names.status();
    if (!names->empty()) {
      return Status::InvalidArgument(std::string("the dump makes the ") + what + " " +
                                     names->front() +
                                     ", which an import cannot move into place; import it with "
                                     "the mariadb client (db show --show-password)");
    }
  }
  if (tables.empty()) return Status::InvalidArgument("the dump makes no table");
  return tables;
}

// What the mariadb client said about the statement that failed: its ERROR line (it also echoes
// the statement), with a hint when the dump fills a table it does not make.
std::string ClientError(const process::ProgramResult& applied, const std::string& staging) {
  std::string said;
  std::istringstream lines(applied.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("ERROR")) said = line;
  }
  if (said.empty()) {
    said = applied.output;
    while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
  }
  if (said.empty()) return "mariadb exited with " + std::to_string(applied.exit_code);
  if (said.find("ERROR 1146") != std::string::npos && said.find(staging) != std::string::npos) {
    said +=
        " (an import is a dump that makes the tables it fills, as mariadb-dump writes; its "
        "tables replace the site's. To run statements on the live database, connect with the "
        "settings of db show --show-password)";
  }
  return said;
}

}  // namespace

Result<db::ClientLogin> SiteLogin(const LogDriver& log, const net::Keyring& keyring,
                                  const std::string& site,
                                  const std::vector<rules::DbNodeView>& nodes) {
  if (Status s = sites::ValidateName(site); !s.ok()) return s;
  auto password = SitePassword(log, keyring, site);
  if (!password.ok() && password.status().code() == StatusCode::kNotFound) {
    auto entry = log.Get(sites::Key(site));
    if (!entry.ok()) return entry.status();
    if (!entry->has_value() || (*entry)->tombstone) {
      return Status::NotFound("no site '" + site + "', and no database kept for one");
    }
    return Status::NotFound("site '" + site + "' has no database (site update " + site +
                            " --database)");
  }
  if (!password.ok()) return password.status();
  if (Status s = CheckDatabaseMade(log, site); !s.ok()) return s;
  const std::string writer = rules::DbWriter(nodes);
  for (const auto& node : nodes) {
    if (node.name != writer || writer.empty()) continue;
    auto address = ParseHostPort(node.client_address, "the writer's address");
    if (!address.ok()) return address.status();
    const std::string name = sites::DatabaseName(site);
    return db::ClientLogin{address->host, address->port, name, *password};
  }
  return Status::Unavailable("no database member is Synced to take it (db status)");
}

DumpStream::~DumpStream() {
  program_.reset();  // ends mariadb-dump if the reader went away first
  ::unlink(option_file_.c_str());
  ::unlink(error_file_.c_str());
}

Result<std::unique_ptr<DumpStream>> StartDump(const db::ClientLogin& login,
                                              const std::string& schema,
                                              const std::string& work_dir) {
  auto option_file = WriteOptionFile(login, work_dir);
  if (!option_file.ok()) return option_file.status();
  auto stream = std::unique_ptr<DumpStream>(new DumpStream());
  stream->option_file_ = *option_file;
  stream->error_file_ = *option_file + ".err";
  process::SpawnOptions spawn;
  spawn.argv = db::DumpArgs("mariadb-dump", *option_file, schema);
  spawn.output_file = stream->error_file_;
  auto program = process::PipedProgram::Start(std::move(spawn));
  if (!program.ok()) return program.status();
  stream->program_ = std::move(*program);
  return stream;
}

Result<ImportReport> ImportDump(const db::ClientLogin& login, const std::string& schema,
                                const std::string& dump_file, const std::string& work_dir) {
  ImportReport report;
  if (Status s = CheckDump(dump_file, &report.bytes); !s.ok()) return s;
  auto opened = db::Connection::Open({.host = login.host,
                                      .port = login.port,
                                      .user = login.user,
                                      .password = login.password,
                                      .timeout_s = 120});
  if (!opened.ok()) return opened.status();
  db::Connection& connection = **opened;
  // One import of a schema at a time (on the writer, where every import goes); released when
  // this connection closes, however this ends.
  auto locked =
      connection.Query("SELECT GET_LOCK(" + connection.Quote("starling-import/" + schema) + ", 0)");
  if (!locked.ok()) return locked.status();
  if (locked->empty() || (*locked)[0].empty() || (*locked)[0][0].value_or("0") != "1") {
    return Status::FailedPrecondition("another import of " + schema + " is running");
  }
  const std::string staging = db::StagingSchema(schema);
  const std::string quoted_staging = db::QuoteIdentifier(staging);
  // Whatever an interrupted import left, then an empty staging schema.
  if (Status s = connection.Execute("DROP DATABASE IF EXISTS " + quoted_staging); !s.ok()) return s;
  if (Status s = connection.Execute("CREATE DATABASE " + quoted_staging); !s.ok()) return s;
  auto cleanup = [&](Status failure) -> Status {
    if (Status s = connection.Execute("DROP DATABASE IF EXISTS " + quoted_staging); !s.ok()) {
      spdlog::warn("db: cannot drop {} after a failed import: {}", staging, s.ToString());
    }
    return Status(failure.code(), failure.message() + "; " + schema + " is unchanged");
  };

  auto option_file = WriteOptionFile(login, work_dir);
  if (!option_file.ok()) return cleanup(option_file.status());
  RemovedAtEnd remove_options{*option_file};
  auto applied = process::RunProgram(db::ImportArgs("mariadb", *option_file, staging),
                                     {.timeout = kImportTimeout, .input_file = dump_file});
  if (!applied.ok()) return cleanup(applied.status());
  if (applied->exit_code != 0) {
    return cleanup(
        Status::InvalidArgument("the dump does not apply: " + ClientError(*applied, staging)));
  }
  auto tables = StagedTables(connection, staging);
  if (!tables.ok()) return cleanup(tables.status());
  auto existing = Names(connection,
                        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
                        "TABLE_SCHEMA = " +
                            connection.Quote(schema));
  if (!existing.ok()) return cleanup(existing.status());
  const std::set<std::string> had(existing->begin(), existing->end());
  if (Status s = connection.Execute(db::SwapStatement(schema, staging, *tables, had)); !s.ok()) {
    return cleanup(s);
  }
  // Swapped in: what the staging schema holds now is the tables they replaced.
  if (Status s = connection.Execute("DROP DATABASE IF EXISTS " + quoted_staging); !s.ok()) {
    spdlog::warn("db: {} imported; cannot drop {}: {}", schema, staging, s.ToString());
  }
  for (const auto& table : *tables) report.replaced += had.contains(table) ? 1 : 0;
  report.tables = std::move(*tables);
  return report;
}

}  // namespace starling::agent
