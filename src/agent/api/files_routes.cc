// /v1/files: this node's part of the site files' volume (issue 19, docs/FILES.md) — a storage
// node's glusterd, volume, brick and heal backlog (src/agent/storage.h), a worker's mount
// (src/agent/files_mount.h). `starling files status` gathers it from every node.
#include "src/agent/api/context.h"
#include "src/agent/files_mount.h"
#include "src/agent/storage.h"

namespace starling::agent::api {

std::vector<Route> FileRoutes(Context& context) {
  const Context* c = &context;
  return {
      {Method::kGet, "/v1/files", kRead,
       [c](const Request&) -> Result<Json> {
         Json nodes = Json::array();
         if (c->storage != nullptr || c->files_mount != nullptr) {
           Json state = {{"node", c->config.node_name}};
           if (c->storage != nullptr) state["storage"] = c->storage->StateJson();
           if (c->files_mount != nullptr) state["mount"] = c->files_mount->StateJson();
           nodes.push_back(std::move(state));
         }
         return Json{{"nodes", nodes}};
       }},
  };
}

}  // namespace starling::agent::api
