// /v1/balancer: a balancer node's nginx, what it applied, its shared address and its traffic
// (src/agent/balancer.h).
#include "src/agent/api/context.h"
#include "src/agent/balancer.h"

namespace starling::agent::api {

std::vector<Route> BalancerRoutes(Context& context) {
  const Context* c = &context;
  return {
      {Method::kGet, "/v1/balancer", kRead,
       [c](const Request&) -> Result<Json> {
         if (c->balancer == nullptr) return Status::NotFound("this node runs no balancer");
         Json state = c->balancer->StateJson();
         state["node"] = c->config.node_name;
         return state;
       }},
      // Whether this balancer has taken a backend out and finished its requests to it. The
      // agents ask each other over the cluster's transport (frame::kDrained); this is the same
      // answer for operators. It asks nginx: blocking, on this HTTP thread.
      {Method::kGet, "/v1/balancer/drained", kRead,
       [c](const Request& request) -> Result<Json> {
         const std::string backend = request.Param("backend");
         if (backend.empty() || !ParseHostPort(backend, "backend").ok()) {
           return Status::InvalidArgument("backend must be host:port");
         }
         if (c->balancer == nullptr) return Status::NotFound("this node runs no balancer");
         auto drained = c->balancer->Drained(backend);
         if (!drained.ok()) return Status::Unavailable(drained.status().message());
         return Json{{"backend", backend}, {"drained", *drained}};
       }},
  };
}

}  // namespace starling::agent::api
