// /v1/db: this node's part of the database cluster (DESIGN.md §10): its Galera member
// (src/agent/database.h) on a db node, its copies' endpoint (src/agent/db_endpoint.h) on a
// worker; and a site's database settings, as its copies get them (src/agent/site_database.h).
#include "src/agent/api/context.h"
#include "src/agent/database.h"
#include "src/agent/db_endpoint.h"
#include "src/agent/site_database.h"
#include "src/sites/site.h"

namespace starling::agent::api {
namespace {

// A site's database settings; the password only with `password`.
Result<Json> SiteDatabase(const Context& c, const std::string& site, bool password) {
  if (Status s = sites::ValidateName(site); !s.ok()) return s;
  auto env = DatabaseEnv(c.config, *c.log, c.sealer->keyring(), site);
  if (!env.ok()) return env.status();
  if (env->empty()) {
    auto entry = c.log->Get(sites::Key(site));
    if (!entry.ok()) return entry.status();
    if (!entry->has_value() || (*entry)->tombstone)
      return Status::NotFound("no site '" + site + "'");
    return Status::NotFound("site '" + site + "' has no database (site update " + site +
                            " --database)");
  }
  Json answer = {{"site", site},
                 {"host", (*env)["DB_HOST"]},
                 {"port", c.config.db.endpoint.port},
                 {"name", (*env)["DB_NAME"]},
                 {"user", (*env)["DB_USER"]}};
  if (password) {
    answer["password"] = (*env)["DB_PASSWORD"];
    answer["url"] = (*env)["DATABASE_URL"];
  }
  return answer;
}

}  // namespace

std::vector<Route> DbRoutes(Context& context) {
  const Context* c = &context;
  return {
      {Method::kGet, "/v1/db", kRead,
       [c](const Request&) -> Result<Json> {
         if (c->database == nullptr && c->db_endpoint == nullptr) {
           return Status::NotFound("this node runs no database and no database endpoint");
         }
         Json state = {{"node", c->config.node_name}};
         if (c->database != nullptr) state["member"] = c->database->StateJson();
         if (c->db_endpoint != nullptr) state["endpoint"] = c->db_endpoint->StateJson();
         return state;
       }},
      {Method::kGet, R"(/v1/db/sites/([^/]+))", kReadSite,
       [c](const Request& request) { return SiteDatabase(*c, request.Match(1), false); }},
      // The password: for who may operate the site.
      {Method::kGet, R"(/v1/db/sites/([^/]+)/password)", kOperateSite,
       [c](const Request& request) { return SiteDatabase(*c, request.Match(1), true); }},
  };
}

}  // namespace starling::agent::api
