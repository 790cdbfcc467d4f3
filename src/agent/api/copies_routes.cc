// /v1/copies and /v1/events: this node's copies and its recent decisions (src/agent/copies.h).
// The CLI gathers them from every live node.
#include <charconv>

#include "src/agent/api/context.h"
#include "src/agent/copies.h"
#include "src/agent/isolation.h"

namespace starling::agent::api {

std::vector<Route> CopyRoutes(Context& context) {
  const Context* c = &context;
  return {
      {Method::kGet, "/v1/copies", kRead,
       [c](const Request&) {
         return c->OnIo([c] {
           // How the node's copies are kept off the host and the cluster (src/agent/isolation.h).
           Json isolation = c->isolation ? c->isolation->Json() : Json{{"mode", "none"}};
           return Json{{"copies", c->copies ? c->copies->CopiesJson() : Json::array()},
                       {"isolation", std::move(isolation)}};
         });
       }},
      {Method::kGet, "/v1/events", kRead,
       [c](const Request& request) -> Result<Json> {
         uint64_t after = 0;
         if (request.Has("after")) {
           const std::string text = request.Param("after");
           const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), after);
           if (error != std::errc() || end != text.data() + text.size()) {
             return Status::InvalidArgument("after must be a sequence number");
           }
         }
         return c->OnIo([c, after] {
           return Json{{"events", c->copies ? c->copies->EventsJson(after) : Json::array()}};
         });
       }},
  };
}

}  // namespace starling::agent::api
