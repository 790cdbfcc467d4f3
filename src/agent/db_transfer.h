// src/agent/db_transfer.h — a site's database dumped and imported through any node's API
// (`starling db dump SITE > file.sql`, `starling db import SITE < file.sql`; DESIGN.md §10).
// Both run the MariaDB client programs on this node against the cluster's writer, logged in as
// the site's own user (its grants are all they can touch), with the password in a 0600 option
// file that lives as long as the program.
//
// Blocking: called on an HTTP connection's thread, never the io thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "src/agent/config.h"
#include "src/agent/log_driver.h"
#include "src/db/transfer.h"
#include "src/net/sealer.h"
#include "src/process/piped.h"
#include "src/rules/db_cluster.h"

namespace starling::agent {

// How this node reaches `site`'s database for a transfer: the cluster's writer among `nodes`
// (rules::DbWriter), as the site's user. kNotFound for no such site or a site with no database;
// kUnavailable when the database is not made yet or no member is Synced.
Result<db::ClientLogin> SiteLogin(const LogDriver& log, const net::Keyring& keyring,
                                  const std::string& site,
                                  const std::vector<rules::DbNodeView>& nodes);

// A dump being read: mariadb-dump's output as it comes, its option file removed once it is done.
class DumpStream {
 public:
  ~DumpStream();
  // Up to `size` bytes; 0 at the dump's end; an error when mariadb-dump failed (with its words).
  Result<size_t> Read(char* buffer, size_t size) { return program_->Read(buffer, size); }

 private:
  friend Result<std::unique_ptr<DumpStream>> StartDump(const db::ClientLogin&, const std::string&,
                                                       const std::string&);
  std::unique_ptr<process::PipedProgram> program_;
  std::string option_file_;
  std::string error_file_;
};

// Starts dumping `schema`; `work_dir` (0700) holds its option and error files meanwhile.
Result<std::unique_ptr<DumpStream>> StartDump(const db::ClientLogin& login,
                                              const std::string& schema,
                                              const std::string& work_dir);

struct ImportReport {
  std::vector<std::string> tables;  // what the dump made, now the site's
  size_t replaced = 0;              // of which the site had one of the same name
  uint64_t bytes = 0;               // the dump's size
};

// Applies the dump in `dump_file` to `schema` as src/db/transfer.h says: checked, staged, then
// swapped in by one statement. On any error the site's tables are as they were and the staging
// schema is gone. kInvalidArgument for a dump that does not apply (with the server's words),
// kFailedPrecondition when another import of the schema runs.
Result<ImportReport> ImportDump(const db::ClientLogin& login, const std::string& schema,
                                const std::string& dump_file, const std::string& work_dir);

}  // namespace starling::agent
