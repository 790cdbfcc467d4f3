// /v1/tokens: the API's tokens (src/auth/token.h), admin only; and the authenticator that checks
// every TCP request's credential.
#include "src/agent/api/context.h"
#include "src/agent/clock.h"
#include "src/auth/cluster_credential.h"
#include "src/auth/token.h"
#include "src/sites/site.h"
#include "src/state/keys.h"

namespace starling::agent::api {
namespace {

Result<std::optional<auth::TokenRecord>> ReadToken(const Context& c, const std::string& name) {
  auto entry = c.log->Get(keys::Token(name));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value() || (*entry)->tombstone) return std::optional<auth::TokenRecord>();
  auto record = auth::TokenRecord::Decode(name, (*entry)->value);
  if (!record.ok()) return record.status();
  return std::optional<auth::TokenRecord>(std::move(*record));
}

Json TokenJson(const auth::TokenRecord& record) {
  return {{"name", record.name},
          {"role", auth::RoleName(record.role)},
          {"site", record.site},
          {"created_ms", record.created_ms},
          {"created_by", record.created_by}};
}

Result<Json> Create(const Context& c, const Request& request) {
  auto options = WriteParams(request);
  if (!options.ok()) return options.status();
  const std::string name = request.body.value("name", "");
  if (!IsValidName(name)) {
    return Status::InvalidArgument("a token name is 1-64 characters of [A-Za-z0-9._-]");
  }
  auto role = auth::ParseRole(request.body.value("role", ""));
  if (!role.ok()) return role.status();
  const std::string site = request.body.value("site", "");
  if (!site.empty()) {
    if (Status s = sites::ValidateName(site); !s.ok()) return s;
    if (*role == auth::Role::kAdmin) {
      return Status::InvalidArgument("a site's token is operator or readonly, not admin");
    }
    auto spec = c.log->Get(keys::Site(site));
    if (!spec.ok()) return spec.status();
    if (!spec->has_value() || (*spec)->tombstone) {
      return Status::NotFound("no site '" + site + "'");
    }
  }
  auto existing = ReadToken(c, name);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) {
    return Status::AlreadyExists("a token named '" + name + "' exists; revoke it first");
  }
  auto issued =
      auth::IssueToken(name, *role, site, static_cast<uint64_t>(WallMs()), request.who.name);
  Json answer = TokenJson(issued.record);
  answer["token"] = issued.token;  // shown this once; the log keeps only its hash
  return WriteAnswer(c, *options, {{keys::Token(name), issued.record.Encode()}}, answer);
}

}  // namespace

std::vector<Route> TokenRoutes(Context& context) {
  const Context* c = &context;
  return {
      {Method::kPost, "/v1/tokens", kAdminOnly,
       [c](const Request& request) { return Create(*c, request); }, BodyKind::kJson},
      {Method::kGet, "/v1/tokens", kAdminOnly,
       [c](const Request&) -> Result<Json> {
         std::vector<store::Entry> entries;
         if (Status s = c->log->Scan(keys::kToken, &entries); !s.ok()) return s;
         Json tokens = Json::array();
         for (const auto& entry : entries) {
           if (entry.tombstone) continue;
           const std::string name = entry.key.substr(keys::kToken.size());
           auto record = auth::TokenRecord::Decode(name, entry.value);
           if (record.ok()) tokens.push_back(TokenJson(*record));
         }
         return Json{{"tokens", tokens}};
       }},
      {Method::kDelete, R"(/v1/tokens/([^/]+))", kAdminOnly,
       [c](const Request& request) -> Result<Json> {
         auto options = WriteParams(request);
         if (!options.ok()) return options.status();
         const std::string name = request.Match(1);
         if (!IsValidName(name)) return Status::InvalidArgument("not a token name: " + name);
         auto existing = ReadToken(*c, name);
         if (!existing.ok()) return existing.status();
         if (!existing->has_value()) return Status::NotFound("no token '" + name + "'");
         return WriteAnswer(*c, *options, {{keys::Token(name), "", true}}, {{"revoked", name}});
       }},
  };
}

Authenticator MakeAuthenticator(Context& context) {
  const Context* c = &context;
  return MakeAuthenticator(*context.sealer,
                           [c](const std::string& name) { return ReadToken(*c, name); });
}

Authenticator MakeAuthenticator(net::Sealer& sealer, TokenLookup lookup) {
  return [&sealer, lookup = std::move(lookup)](const Request& request) -> Result<auth::Principal> {
    const std::string header = request.Header("authorization");
    if (header.empty()) {
      return Status::Unauthenticated(
          "this API needs a credential: set STARLING_TOKEN to a token (starling token create), "
          "or run the CLI on a node (its unix socket, or STARLING_KEY_FILE)");
    }
    if (header.starts_with("Bearer ")) {
      auto presented = auth::ParseToken(std::string_view(header).substr(7));
      if (!presented.ok()) return presented.status();
      auto record = lookup(presented->name);
      if (!record.ok()) return Status::Unavailable("cannot read tokens now");
      if (!record->has_value() || !auth::Verifies(**record, presented->secret)) {
        return Status::Unauthenticated("the token is not valid (revoked, or never issued)");
      }
      return auth::Principal{(*record)->name, (*record)->role, (*record)->site,
                             auth::Source::kToken};
    }
    if (header.starts_with(auth::kClusterScheme)) {
      const std::string_view credential =
          std::string_view(header).substr(auth::kClusterScheme.size());
      if (Status s = auth::VerifyClusterCredential(sealer, credential, MethodName(request.method),
                                                   request.path, request.body_hash, WallMs());
          !s.ok()) {
        return s;
      }
      return auth::Principal{"cluster", auth::Role::kAdmin, "", auth::Source::kCluster};
    }
    return Status::Unauthenticated("the Authorization header is neither Bearer nor Starling-Key");
  };
}

}  // namespace starling::agent::api
