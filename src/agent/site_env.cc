#include "src/agent/site_env.h"

#include "src/agent/site_database.h"
#include "src/auth/sealed_secret.h"
#include "src/sites/site.h"
#include "src/state/keys.h"

namespace starling::agent {

Result<std::map<std::string, std::string>> SiteEnv(const AgentConfig& config, const LogDriver& log,
                                                   const net::Keyring& keyring,
                                                   const std::string& site) {
  auto entry = log.Get(sites::Key(site));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value() || (*entry)->tombstone) return Status::NotFound("no site '" + site + "'");
  auto spec = sites::Decode((*entry)->value);
  if (!spec.ok()) return spec.status();
  std::map<std::string, std::string> env = spec->env;
  for (const auto& [name, fingerprint] : spec->secrets) {
    const std::string key = keys::SiteSecret(site, name);
    auto sealed = log.Get(key);
    if (!sealed.ok()) return sealed.status();
    if (!sealed->has_value() || (*sealed)->tombstone) {
      return Status::Unavailable("secret " + name + " of " + site + " has not reached this node");
    }
    auto opened = auth::OpenSecret(keyring, key, (*sealed)->value);
    if (!opened.ok()) return opened.status();
    env[name] = std::move(*opened);
  }
  auto database = DatabaseEnv(config, log, keyring, site);
  if (!database.ok()) return database.status();
  for (auto& [name, value] : *database) env[name] = std::move(value);
  return env;
}

}  // namespace starling::agent
