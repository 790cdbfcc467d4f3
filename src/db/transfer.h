// src/db/transfer.h — what a site's dump and import are made of (DESIGN.md §10), pure: the
// MariaDB client programs' arguments and option file, the check that a dump stays in one schema,
// and the one statement that swaps an import's staged tables in.
//
// An import never leaves a database half-done: the dump is applied to a staging schema
// (`<schema>$import`) first; only once every statement of it succeeded do its tables replace the
// site's, all in one RENAME TABLE (atomic, and replicated by Galera as one DDL). A dump that
// fails leaves the site's database as it was.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace starling::db {

// How a client program logs in (as a site's user, at the cluster's writer).
struct ClientLogin {
  std::string host;
  unsigned port = 3306;
  std::string user;
  std::string password;
};

// A [client] option file for mariadb and mariadb-dump: the password never goes on a command
// line (where `ps` shows it). Write it 0600.
std::string ClientOptionFile(const ClientLogin& login);

// mariadb-dump of one schema (no CREATE DATABASE or USE, so it imports into any schema): one
// consistent snapshot without locks (--single-transaction), rows streamed (--quick), binary as
// hex, with triggers and routines.
std::vector<std::string> DumpArgs(const std::string& program, const std::string& option_file,
                                  const std::string& schema);

// mariadb applying a dump from its stdin to `schema`, stopping at the first error.
std::vector<std::string> ImportArgs(const std::string& program, const std::string& option_file,
                                    const std::string& schema);

// The staging schema of `schema`'s imports: `<schema>$import`, a name no site's schema can have
// ('$' is not in one), at most 64 characters when `schema` is at most kMaxImportedSchema.
std::string StagingSchema(std::string_view schema);
inline constexpr size_t kMaxImportedSchema = 57;

// `schema` as a GRANT's database pattern, its wildcards ('_' and '%') escaped: a grant on site
// "my-shop" (`my_shop`) must not also match the schema of site "myashop".
std::string GrantPattern(std::string_view schema);

// Refuses a dump that names a database (a line starting USE, CREATE DATABASE or CREATE SCHEMA,
// as mariadb-dump --databases writes): its statements would land outside the staging schema.
// Only the words a line starts with are looked at; SQL is left to the server to parse.
class DumpChecker {
 public:
  // Feeds the next piece of the dump (any split).
  Status Feed(std::string_view piece);
  // The end of the dump: its last line, if it has no newline.
  Status Finish();

 private:
  Status CheckLine(std::string_view line);
  std::string partial_;
  size_t line_number_ = 0;
};

// The one statement that moves `staged` (the tables of the staging schema) into `schema`: a table
// the site has under the same name is swapped out to the staging schema (dropped with it after);
// the site's other tables stay. Names are quoted. REQUIRES: staged not empty.
std::string SwapStatement(std::string_view schema, std::string_view staging,
                          const std::vector<std::string>& staged,
                          const std::set<std::string>& existing);

// `name` quoted as an identifier (`a``b`).
std::string QuoteIdentifier(std::string_view name);

}  // namespace starling::db
