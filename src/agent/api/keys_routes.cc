// /v1/keyring: the cluster key rotation on this node (src/agent/keys.h). Keys are shown by
// fingerprint only.
#include "src/agent/api/context.h"
#include "src/agent/keys.h"

namespace starling::agent::api {

std::vector<Route> KeyRoutes(Context& context) {
  const Context* c = &context;
  return {
      {Method::kGet, "/v1/keyring", kAdminOnly,
       [c](const Request&) { return c->OnIo([c] { return c->keys->List(); }); }},
      {Method::kPost, R"(/v1/keyring/(install|use|remove))", kAdminOnly,
       [c](const Request& request) -> Result<Json> {
         const std::string action = request.Match(1);
         const std::string key = request.body.value("key", "");
         // Shared: a late io thread (after OnIo gave up) must not write into a gone frame.
         auto snapshot = std::make_shared<Keys::Snapshot>();
         auto changed = c->OnIo([c, action, key, snapshot]() -> Result<Json> {
           auto done = c->keys->Change(action, key);
           if (!done.ok()) return done.status();
           *snapshot = std::move(done.value());
           return c->keys->List();
         });
         if (!changed.ok()) return changed.status();
         // Durable before we answer; fsync'd here, on the HTTP thread, not on the io thread.
         if (Status s = c->keys->Persist(*snapshot); !s.ok()) return s;
         return changed;
       },
       BodyKind::kJson},
  };
}

}  // namespace starling::agent::api
