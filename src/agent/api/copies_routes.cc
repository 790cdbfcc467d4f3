// /v1/copies, /v1/logs/SITE and /v1/events: this node's copies, the end of a site's copies'
// output, and its recent decisions (src/agent/copies.h). The CLI gathers them from every live
// node.
#include <charconv>
#include <filesystem>
#include <sstream>

#include "base/file.h"
#include "src/agent/api/context.h"
#include "src/agent/copies.h"
#include "src/agent/isolation.h"
#include "src/sites/site.h"

namespace starling::agent::api {
namespace {

// The last `lines` lines of a copy's output: its log's rotated half (log.1), then its log.
std::vector<std::string> LastLines(const std::filesystem::path& bundle, size_t lines) {
  std::string text = ReadTail(bundle / "log.1", 256 << 10);
  text += ReadTail(bundle / "log", 256 << 10);
  std::vector<std::string> all;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) all.push_back(std::move(line));
  if (all.size() > lines) all.erase(all.begin(), all.end() - static_cast<ptrdiff_t>(lines));
  return all;
}

// This node's copies of a site and the end of each one's output (`starling logs`).
Result<Json> SiteLogs(const Context& c, const Request& request) {
  const std::string site = request.Match(1);
  if (Status s = sites::ValidateName(site); !s.ok()) return s;
  size_t lines = 100;
  if (request.Has("lines")) {
    const std::string text = request.Param("lines");
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), lines);
    if (error != std::errc() || end != text.data() + text.size() || lines < 1 || lines > 10000) {
      return Status::InvalidArgument("lines must be 1 to 10000");
    }
  }
  auto copies = c.OnIo([&c] { return c.copies ? c.copies->CopiesJson() : Json::array(); });
  if (!copies.ok()) return copies.status();
  Json out = Json::array();
  for (const auto& copy : *copies) {
    if (copy["site"] != site) continue;
    const std::string id = copy["id"];
    const auto bundle = std::filesystem::path(c.config.data_dir) / "copies" / id / "bundle";
    out.push_back({{"node", c.config.node_name},
                   {"copy", id},
                   {"state", copy["state"]},
                   {"lines", LastLines(bundle, lines)}});
  }
  return Json{{"node", c.config.node_name}, {"copies", out}};
}

}  // namespace

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
      {Method::kGet, R"(/v1/logs/([^/]+))", kReadSite,
       [c](const Request& request) { return SiteLogs(*c, request); }},
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
