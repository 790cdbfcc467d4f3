// /v1/db: this node's member of the database cluster (src/agent/database.h). `starling db
// status` asks every db node for it.
#include "src/agent/api/context.h"
#include "src/agent/database.h"

namespace starling::agent::api {

std::vector<Route> DbRoutes(Context& context) {
  const Context* c = &context;
  return {
      {Method::kGet, "/v1/db", kRead,
       [c](const Request&) -> Result<Json> {
         if (c->database == nullptr) return Status::NotFound("this node runs no database");
         Json state = c->database->StateJson();
         state["node"] = c->config.node_name;
         return state;
       }},
  };
}

}  // namespace starling::agent::api
