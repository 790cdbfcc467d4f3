// /v1/sites: the hosted sites on the state log (src/sites/site.h). Reads and the checks before a
// write need only the log, which any thread may read: no route here waits for the io thread.
#include <algorithm>

#include "src/agent/api/context.h"
#include "src/agent/clock.h"
#include "src/agent/site_database.h"
#include "src/auth/cluster_credential.h"
#include "src/auth/sealed_secret.h"
#include "src/sites/site.h"
#include "src/state/keys.h"

namespace starling::agent::api {
namespace {

Result<std::optional<sites::Site>> LoadSite(const LogDriver& log, const std::string& name) {
  auto entry = log.Get(sites::Key(name));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value() || (*entry)->tombstone) return std::optional<sites::Site>();
  auto site = sites::Decode((*entry)->value);
  if (!site.ok()) return site.status();
  return std::optional<sites::Site>(std::move(site.value()));
}

Result<std::vector<sites::Site>> LoadSites(const LogDriver& log) {
  std::vector<store::Entry> entries;
  if (Status s = log.Scan(sites::kKeyPrefix, &entries); !s.ok()) return s;
  std::vector<sites::Site> all;
  for (const auto& entry : entries) {
    if (entry.tombstone) continue;
    auto site = sites::Decode(entry.value);
    if (!site.ok()) return site.status();
    all.push_back(std::move(site.value()));
  }
  return all;
}

// A domain may belong to one site only (as far as this node knows).
Status CheckDomainsFree(const LogDriver& log, const sites::Site& site) {
  auto all = LoadSites(log);
  if (!all.ok()) return all.status();
  for (const auto& other : *all) {
    if (other.name == site.name) continue;
    for (const auto& domain : site.domains) {
      if (std::find(other.domains.begin(), other.domains.end(), domain) != other.domains.end()) {
        return Status::AlreadyExists("domain '" + domain + "' belongs to site '" + other.name +
                                     "'");
      }
    }
  }
  return Status::Ok();
}

// Creates (`create`) or changes the site `name` with the fields of `body`.
Result<Json> WriteSite(const Context& context, const Request& request, const std::string& name,
                       bool create) {
  auto options = WriteParams(request);
  if (!options.ok()) return options.status();
  if (Status s = sites::ValidateName(name); !s.ok()) return s;
  auto existing = LoadSite(*context.log, name);
  if (!existing.ok()) return existing.status();
  if (create && existing->has_value()) return Status::AlreadyExists("site '" + name + "' exists");
  if (!create && !existing->has_value()) return Status::NotFound("no site '" + name + "'");
  sites::Site base = create ? sites::Site{} : **existing;
  base.name = name;
  // Secrets arrive in clear: sealed here, only their fingerprints go into the site's record.
  Json body = request.body;
  Json secrets = Json::object();
  if (body.contains("secrets")) {
    secrets = body["secrets"];
    body.erase("secrets");
    if (!secrets.is_object()) {
      return Status::InvalidArgument("secrets must be an object of names to strings or null");
    }
  }
  auto site = sites::Apply(base, body, create);
  if (!site.ok()) return site.status();
  std::vector<Put> sealed;
  for (const auto& [secret, value] : secrets.items()) {
    if (Status s = sites::ValidateEnvName(secret); !s.ok()) return s;
    const std::string key = keys::SiteSecret(name, secret);
    if (value.is_null()) {
      site->secrets.erase(secret);
      sealed.push_back({key, "", true});
      continue;
    }
    if (!value.is_string() || value.get<std::string>().size() > sites::kMaxEnvValue) {
      return Status::InvalidArgument("secret " + secret + " must be a string of at most " +
                                     std::to_string(sites::kMaxEnvValue) + " bytes");
    }
    std::string box = auth::SealSecret(context.sealer->keyring(), key, value.get<std::string>());
    site->secrets[secret] = auth::BodyHash(box).substr(0, 16);
    site->env.erase(secret);  // a setting that becomes a secret is one no longer
    sealed.push_back({key, std::move(box)});
  }
  if (Status s = sites::Validate(*site); !s.ok()) return s;
  if (!request.who.site.empty() && (site->image_quota_mb != base.image_quota_mb ||
                                    site->files_quota_mb != base.files_quota_mb)) {
    return Status::PermissionDenied(
        "a site's image and files quotas are the platform operator's to set, not its own "
        "token's");
  }
  if (Status s = CheckDomainsFree(*context.log, *site); !s.ok()) return s;
  std::vector<Put> puts = {{sites::Key(name), sites::Encode(*site)}};
  for (auto& put : sealed) puts.push_back(std::move(put));
  if (site->database) {
    // A database needs a db node; its password is made now, sealed, with the site.
    std::vector<store::Entry> db_nodes;
    if (Status s = context.log->Scan(keys::kDbNode, &db_nodes); !s.ok()) return s;
    if (db_nodes.empty()) {
      return Status::FailedPrecondition(
          "no node runs a database: give some nodes roles = [\"worker\", \"db\"] first");
    }
    auto password = NewSitePassword(*context.log, context.sealer->keyring(), name);
    if (!password.ok()) return password.status();
    for (auto& put : *password) puts.push_back(std::move(put));
  }
  return WriteAnswer(context, *options, std::move(puts), sites::ToJson(*site));
}

}  // namespace

std::vector<Route> SiteRoutes(Context& context) {
  const Context* c = &context;
  return {
      {Method::kGet, "/v1/sites", kReadSites,
       [c](const Request& request) -> Result<Json> {
         auto all = LoadSites(*c->log);
         if (!all.ok()) return all.status();
         Json list = Json::array();
         for (const auto& site : *all) {
           // A site's token sees its own site only.
           if (request.who.site.empty() || request.who.site == site.name) {
             list.push_back(sites::ToJson(site));
           }
         }
         return Json{{"sites", list}};
       }},
      {Method::kGet, R"(/v1/sites/([^/]+))", kReadSite,
       [c](const Request& request) -> Result<Json> {
         const std::string name = request.Match(1);
         if (Status s = sites::ValidateName(name); !s.ok()) return s;
         auto site = LoadSite(*c->log, name);
         if (!site.ok()) return site.status();
         if (!site->has_value()) return Status::NotFound("no site '" + name + "'");
         return sites::ToJson(**site);
       }},
      {Method::kPost, "/v1/sites", kOperate,
       [c](const Request& request) -> Result<Json> {
         if (!request.body.contains("name") || !request.body["name"].is_string()) {
           return Status::InvalidArgument("name must be a string");
         }
         return WriteSite(*c, request, request.body["name"].get<std::string>(), true);
       },
       BodyKind::kJson},
      {Method::kPatch, R"(/v1/sites/([^/]+))", kOperateSite,
       [c](const Request& request) { return WriteSite(*c, request, request.Match(1), false); },
       BodyKind::kJson},
      {Method::kDelete, R"(/v1/sites/([^/]+))", kOperateSite,
       [c](const Request& request) -> Result<Json> {
         auto options = WriteParams(request);
         if (!options.ok()) return options.status();
         const std::string name = request.Match(1);
         if (Status s = sites::ValidateName(name); !s.ok()) return s;
         auto existing = LoadSite(*c->log, name);
         if (!existing.ok()) return existing.status();
         if (!existing->has_value()) return Status::NotFound("no site '" + name + "'");
         // Its database stays unless asked for (the writer's node drops it: keys::DbDrop).
         std::vector<Put> puts = {{sites::Key(name), "", true}};
         Json answer = {{"deleted", name}};
         if (request.Has("drop_database")) {
           const std::string drop = request.Param("drop_database");
           if (drop != "1" && drop != "true") {
             return Status::InvalidArgument("drop_database is 1 or true");
           }
           puts.push_back({keys::DbDrop(name), Json{{"at_ms", WallMs()}}.dump()});
           answer["database"] = "dropping";
         } else if ((*existing)->database) {
           answer["database"] = "kept";
         }
         return WriteAnswer(*c, *options, std::move(puts), std::move(answer));
       }},
  };
}

}  // namespace starling::agent::api
