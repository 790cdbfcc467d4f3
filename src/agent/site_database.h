// src/agent/site_database.h — a site's own database on the cluster's MariaDB (DESIGN.md §10):
// its schema and user (both sites::DatabaseName), its password made when the site asks for a
// database and kept in the state log sealed with the cluster key; the settings its copies get
// (DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD, DATABASE_URL: the node's endpoint); and what
// the writer's node does so that each one exists.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "src/agent/config.h"
#include "src/agent/log_driver.h"
#include "src/db/connection.h"
#include "src/net/sealer.h"

namespace starling::agent {

// The state log key of a site's sealed database password.
std::string SitePasswordKey(const std::string& site);

// The Put that gives `site` a new sealed password, unless the log has one.
Result<std::vector<Put>> NewSitePassword(const LogDriver& log, const net::Keyring& keyring,
                                         const std::string& site);

// The site's password, opened. kNotFound when it has none.
Result<std::string> SitePassword(const LogDriver& log, const net::Keyring& keyring,
                                 const std::string& site);

// OK once the writer's node has made the site's database (keys::DbReady); kUnavailable before.
Status CheckDatabaseMade(const LogDriver& log, const std::string& site);

// What a copy of `site` is told of its database through the node's endpoint; empty when the
// site has none; kUnavailable until the writer's node has made it (keys::DbReady).
Result<std::map<std::string, std::string>> DatabaseEnv(const AgentConfig& config,
                                                       const LogDriver& log,
                                                       const net::Keyring& keyring,
                                                       const std::string& site);

// The database secrets among `entries` (keys::kDbSecret) that are not sealed with the keyring's
// primary key, sealed with it: what the writer's node writes after a key rotation, so that the
// old key can be removed. A secret no key opens is left as it is (and logged).
std::vector<Put> ResealedSecrets(const std::vector<store::Entry>& entries,
                                 const net::Keyring& keyring);

// On the writer's node: every site with a database has its schema and its user (granted on
// that schema only) with the password the log holds. Idempotent; `done` remembers what was
// made (site → a digest of the password) so a second pass costs one log scan.
// Each site made is marked ready in the log (keys::DbReady), as `node`.
Status EnsureSiteDatabases(db::Connection& connection, LogDriver& log, const net::Keyring& keyring,
                           const std::string& node, std::map<std::string, std::string>* done);

// On the writer's node: the databases `site delete --drop-database` asked to drop (keys::DbDrop)
// are dropped with their users and staging schemas, and their keys removed; a site created again
// meanwhile keeps its database. Part of EnsureSiteDatabases.
Status DropSiteDatabases(db::Connection& connection, LogDriver& log,
                         std::map<std::string, std::string>* done);

}  // namespace starling::agent
