// /v1/copies, /v1/logs/SITE and /v1/events: this node's copies, the end of a site's copies'
// output, and its recent decisions (src/agent/copies.h). The CLI gathers them from every live
// node.
#include <charconv>
#include <filesystem>
#include <map>
#include <sstream>

#include "src/agent/api/context.h"
#include "src/agent/copies.h"
#include "src/agent/isolation.h"
#include "src/copies/log_read.h"
#include "src/sites/site.h"

namespace starling::agent::api {
namespace {

// `after=ID:POSITION,ID:POSITION`: where a follower of the logs stands in each copy's log.
Result<std::map<std::string, uint64_t>> ParseAfter(const std::string& text) {
  std::map<std::string, uint64_t> after;
  std::istringstream items(text);
  for (std::string item; std::getline(items, item, ',');) {
    const size_t colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return Status::InvalidArgument("after must be COPY:POSITION,... (as the last answer said)");
    }
    uint64_t position = 0;
    const char* end = item.data() + item.size();
    const auto [stop, error] = std::from_chars(item.data() + colon + 1, end, position);
    if (error != std::errc() || stop != end || stop == item.data() + colon + 1) {
      return Status::InvalidArgument("after must be COPY:POSITION,... (as the last answer said)");
    }
    after[item.substr(0, colon)] = position;
  }
  return after;
}

// This node's copies of a site and the end of each one's output (`starling logs`), or, for the
// copies `after` names, what they wrote since (`starling logs --follow`).
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
  std::map<std::string, uint64_t> after;
  if (request.Has("after")) {
    auto parsed = ParseAfter(request.Param("after"));
    if (!parsed.ok()) return parsed.status();
    after = std::move(*parsed);
  }
  auto copies = c.OnIo([&c] { return c.copies ? c.copies->CopiesJson() : Json::array(); });
  if (!copies.ok()) return copies.status();
  Json out = Json::array();
  for (const auto& copy : *copies) {
    if (copy["site"] != site) continue;
    const std::string id = copy["id"];
    const auto log = std::filesystem::path(c.config.data_dir) / "copies" / id / "bundle" / "log";
    const auto seen = after.find(id);
    const copies::LogLines read = seen == after.end() ? copies::LastLogLines(log, lines)
                                                      : copies::LogLinesAfter(log, seen->second);
    Json entry = {{"node", c.config.node_name},
                  {"copy", id},
                  {"state", copy["state"]},
                  {"lines", read.lines},
                  {"end", read.end}};
    if (read.restarted) entry["restarted"] = true;
    if (read.skipped > 0) entry["skipped_bytes"] = read.skipped;
    out.push_back(std::move(entry));
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
