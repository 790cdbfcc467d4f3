// /v1/db: this node's part of the database cluster (DESIGN.md §10): its Galera member
// (src/agent/database.h) on a db node, its copies' endpoint (src/agent/db_endpoint.h) on a
// worker. `starling db status` asks every node for it.
#include "src/agent/api/context.h"
#include "src/agent/database.h"
#include "src/agent/db_endpoint.h"

namespace starling::agent::api {

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
  };
}

}  // namespace starling::agent::api
