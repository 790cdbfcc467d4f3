// /v1/db: this node's part of the database cluster (DESIGN.md §10): its Galera member
// (src/agent/database.h) on a db node, its copies' endpoint (src/agent/db_endpoint.h) on a
// worker; a site's database settings, as its copies get them (src/agent/site_database.h); and
// its dump and import (src/agent/db_transfer.h).
#include <spdlog/spdlog.h>

#include <filesystem>

#include "src/agent/api/context.h"
#include "src/agent/database.h"
#include "src/agent/db_endpoint.h"
#include "src/agent/db_transfer.h"
#include "src/agent/member_views.h"
#include "src/agent/membership.h"
#include "src/agent/site_database.h"
#include "src/sites/site.h"
#include "src/state/keys.h"

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

// How this node reaches `site`'s database for a dump or an import: the writer gossip shows.
Result<db::ClientLogin> LoginFor(const Context& c, const std::string& site) {
  auto nodes = std::make_shared<std::vector<rules::DbNodeView>>();
  auto viewed = c.OnIo([&c, nodes] {
    *nodes = DbNodes(c.membership->core());
    return Json();
  });
  if (!viewed.ok()) return viewed.status();
  return SiteLogin(*c.log, c.sealer->keyring(), site, *nodes);
}

// Where a transfer keeps its option file meanwhile: the uploads' directory (0700).
std::string WorkDir(const Context& c) {
  return (std::filesystem::path(c.config.data_dir) / "uploads").string();
}

// A running dump as an answer's body.
class DumpBody : public BodySource {
 public:
  explicit DumpBody(std::unique_ptr<DumpStream> stream) : stream_(std::move(stream)) {}
  Result<size_t> Read(char* buffer, size_t size) override { return stream_->Read(buffer, size); }

 private:
  std::unique_ptr<DumpStream> stream_;
};

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
      // Its dump, streamed from mariadb-dump at the writer: for who may operate the site.
      {.method = Method::kGet,
       .pattern = R"(/v1/db/sites/([^/]+)/dump)",
       .access = kOperateSite,
       .source = [c](const Request& request) -> Result<std::unique_ptr<BodySource>> {
         const std::string site = request.Match(1);
         auto login = LoginFor(*c, site);
         if (!login.ok()) return login.status();
         auto stream = StartDump(*login, sites::DatabaseName(site), WorkDir(*c));
         if (!stream.ok()) return stream.status();
         return std::unique_ptr<BodySource>(new DumpBody(std::move(*stream)));
       }},
      // A db node gone for good leaves the bootstrap rule's registry (keys::DbNode): otherwise a
      // cold start of the others waits for it forever. Never a node gossip shows alive.
      {Method::kDelete, R"(/v1/db/nodes/([^/]+))", kAdminOnly,
       [c](const Request& request) -> Result<Json> {
         auto options = WriteParams(request);
         if (!options.ok()) return options.status();
         const std::string node = request.Match(1);
         if (!gossip::IsValidName(node)) {
           return Status::InvalidArgument("a node name is 1-64 characters of [A-Za-z0-9._-]");
         }
         auto entry = c->log->Get(keys::DbNode(node));
         if (!entry.ok()) return entry.status();
         if (!entry->has_value() || (*entry)->tombstone) {
           return Status::NotFound("no db node '" + node + "' is registered");
         }
         auto status = c->OnIo([c, node]() -> Result<Json> {
           const gossip::Member* member = c->membership->core().FindMember(node);
           return Json(member == nullptr ? "unknown"
                                         : std::string(gossip::MemberStatusName(member->status)));
         });
         if (!status.ok()) return status.status();
         if (*status == "alive" || *status == "suspect") {
           return Status::FailedPrecondition(
               node + " is " + status->get<std::string>() +
               ": forget only a db node gone for good (stop it first; a node that returns "
               "registers again)");
         }
         return WriteAnswer(*c, *options, {{keys::DbNode(node), "", true}}, {{"forgotten", node}});
       }},
      // A dump applied to it, all or nothing (src/db/transfer.h).
      {.method = Method::kPost,
       .pattern = R"(/v1/db/sites/([^/]+)/import)",
       .access = kOperateSite,
       .handler = [c](const Request& request) -> Result<Json> {
         const std::string site = request.Match(1);
         auto login = LoginFor(*c, site);
         if (!login.ok()) return login.status();
         auto report =
             ImportDump(*login, sites::DatabaseName(site), request.body_file, WorkDir(*c));
         if (!report.ok()) return report.status();
         spdlog::info("db: a dump of {} bytes imported into {}'s database ({} tables)",
                      report->bytes, site, report->tables.size());
         return Json{{"site", site},
                     {"bytes", report->bytes},
                     {"tables", report->tables},
                     {"replaced", report->replaced}};
       },
       .body = BodyKind::kFile,
       .max_body_bytes = static_cast<size_t>(c->config.db.max_import_mb) << 20},
  };
}

}  // namespace starling::agent::api
