#include "src/agent/site_database.h"

#include <spdlog/spdlog.h>

#include <functional>

#include "src/agent/clock.h"
#include "src/auth/sealed_secret.h"
#include "src/db/transfer.h"
#include "src/sites/site.h"
#include "src/state/keys.h"

namespace starling::agent {

std::string SitePasswordKey(const std::string& site) { return keys::DbSecret("site/" + site); }

Result<std::vector<Put>> NewSitePassword(const LogDriver& log, const net::Keyring& keyring,
                                         const std::string& site) {
  const std::string key = SitePasswordKey(site);
  auto entry = log.Get(key);
  if (!entry.ok()) return entry.status();
  if (entry->has_value() && !(*entry)->tombstone) return std::vector<Put>();
  return std::vector<Put>{{key, auth::SealSecret(keyring, key, auth::NewPassword())}};
}

Result<std::string> SitePassword(const LogDriver& log, const net::Keyring& keyring,
                                 const std::string& site) {
  const std::string key = SitePasswordKey(site);
  auto entry = log.Get(key);
  if (!entry.ok()) return entry.status();
  if (!entry->has_value() || (*entry)->tombstone) {
    return Status::NotFound("site '" + site + "' has no database password yet");
  }
  return auth::OpenSecret(keyring, key, (*entry)->value);
}

Result<std::map<std::string, std::string>> DatabaseEnv(const AgentConfig& config,
                                                       const LogDriver& log,
                                                       const net::Keyring& keyring,
                                                       const std::string& site) {
  std::map<std::string, std::string> env;
  auto entry = log.Get(sites::Key(site));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value() || (*entry)->tombstone) return env;
  auto spec = sites::Decode((*entry)->value);
  if (!spec.ok()) return spec.status();
  if (!spec->database) return env;
  auto password = SitePassword(log, keyring, site);
  if (!password.ok()) return password.status();
  if (Status s = CheckDatabaseMade(log, site); !s.ok()) return s;
  const std::string name = sites::DatabaseName(site);
  const std::string host = config.db.endpoint.host;
  const std::string port = std::to_string(config.db.endpoint.port);
  env["DB_HOST"] = host;
  env["DB_PORT"] = port;
  env["DB_NAME"] = name;
  env["DB_USER"] = name;
  env["DB_PASSWORD"] = *password;  // [A-Za-z0-9]: nothing to escape in the URL
  env["DATABASE_URL"] = "mysql://" + name + ":" + *password + "@" + host + ":" + port + "/" + name;
  return env;
}

Status CheckDatabaseMade(const LogDriver& log, const std::string& site) {
  auto ready = log.Get(keys::DbReady(site));
  if (!ready.ok()) return ready.status();
  if (!ready->has_value() || (*ready)->tombstone) {
    return Status::Unavailable("site " + site + "'s database is not made yet (db status)");
  }
  return Status::Ok();
}

std::vector<Put> ResealedSecrets(const std::vector<store::Entry>& entries,
                                 const net::Keyring& keyring) {
  std::vector<Put> puts;
  for (const auto& entry : entries) {
    if (entry.tombstone ||
        !(entry.key.starts_with(keys::kDbSecret) || entry.key.starts_with(keys::kSiteSecret)) ||
        auth::SealedWithPrimary(keyring, entry.value)) {
      continue;
    }
    auto opened = auth::OpenSecret(keyring, entry.key, entry.value);
    if (!opened.ok()) {
      spdlog::warn("db: cannot reseal {}: {}", entry.key, opened.status().ToString());
      continue;
    }
    puts.push_back({entry.key, auth::SealSecret(keyring, entry.key, *opened)});
  }
  return puts;
}

Status EnsureSiteDatabases(db::Connection& connection, LogDriver& log, const net::Keyring& keyring,
                           const std::string& node, std::map<std::string, std::string>* done) {
  std::vector<store::Entry> entries;
  if (Status s = log.Scan(sites::kKeyPrefix, &entries); !s.ok()) return s;
  for (const auto& entry : entries) {
    if (entry.tombstone) continue;
    auto site = sites::Decode(entry.value);
    if (!site.ok() || !site->database) continue;
    auto password = SitePassword(log, keyring, site->name);
    if (!password.ok()) continue;  // not replicated here yet: the next pass
    auto it = done->find(site->name);
    const std::string digest = std::to_string(std::hash<std::string>{}(*password));
    if (it != done->end() && it->second == digest) continue;
    const std::string name = sites::DatabaseName(site->name);
    if (!db::IsSafeIdentifier(name)) continue;  // never: site names map to plain identifiers
    const std::string user = "'" + name + "'@'%'";
    const std::string quoted = connection.Quote(*password);
    // Its own schema, and the staging schema its imports go through (src/db/transfer.h); the
    // patterns escaped, so that no other site's schema matches them.
    for (const std::string& statement :
         {"CREATE DATABASE IF NOT EXISTS `" + name + "`",
          "CREATE USER IF NOT EXISTS " + user + " IDENTIFIED BY " + quoted,
          "ALTER USER " + user + " IDENTIFIED BY " + quoted,
          "GRANT ALL PRIVILEGES ON `" + db::GrantPattern(name) + "`.* TO " + user,
          "GRANT ALL PRIVILEGES ON `" + db::GrantPattern(db::StagingSchema(name)) + "`.* TO " +
              user}) {
      if (Status s = connection.Execute(statement); !s.ok()) {
        return Status(s.code(), "site " + site->name + "'s database: " + s.message());
      }
    }
    spdlog::info("db: site {} has its database and user '{}'", site->name, name);
    (*done)[site->name] = digest;
    auto ready = log.Get(keys::DbReady(site->name));
    if (ready.ok() && (!ready->has_value() || (*ready)->tombstone)) {
      log.Write(
          {{keys::DbReady(site->name), nlohmann::json{{"by", node}, {"at_ms", WallMs()}}.dump()}},
          store::AckMode::kLocal, Seconds(5), [site = site->name](Result<Written> written) {
            if (!written.ok()) {
              spdlog::warn("db: cannot mark {}'s database ready: {}", site,
                           written.status().ToString());
            }
          });
    }
  }
  return DropSiteDatabases(connection, log, done);
}

Status DropSiteDatabases(db::Connection& connection, LogDriver& log,
                         std::map<std::string, std::string>* done) {
  std::vector<store::Entry> drops;
  if (Status s = log.Scan(keys::kDbDrop, &drops); !s.ok()) return s;
  for (const auto& drop : drops) {
    if (drop.tombstone) continue;
    const std::string site = drop.key.substr(keys::kDbDrop.size());
    const std::string name = sites::DatabaseName(site);
    if (sites::ValidateName(site).ok() && db::IsSafeIdentifier(name)) {
      auto entry = log.Get(sites::Key(site));
      if (!entry.ok()) return entry.status();
      if (entry->has_value() && !(*entry)->tombstone) {
        // Made again before its database went: the new site keeps it.
        spdlog::warn("db: site {} was created again before its database was dropped; kept", site);
      } else {
        for (const std::string& statement :
             {"DROP DATABASE IF EXISTS `" + name + "`",
              "DROP DATABASE IF EXISTS " + db::QuoteIdentifier(db::StagingSchema(name)),
              "DROP USER IF EXISTS '" + name + "'@'%'"}) {
          if (Status s = connection.Execute(statement); !s.ok()) {
            return Status(s.code(), "dropping site " + site + "'s database: " + s.message());
          }
        }
        spdlog::info("db: site {}'s database and user dropped, as its deletion asked", site);
        done->erase(site);
        log.Write({{SitePasswordKey(site), "", true}, {keys::DbReady(site), "", true}},
                  store::AckMode::kLocal, Seconds(5), [](Result<Written>) {});
      }
    }
    log.Write({{drop.key, "", true}}, store::AckMode::kLocal, Seconds(5),
              [key = drop.key](Result<Written> written) {
                if (!written.ok()) {
                  spdlog::warn("db: cannot clear {}: {}", key, written.status().ToString());
                }
              });
  }
  return Status::Ok();
}

}  // namespace starling::agent
