// /v1/stacks: base root filesystems sites are layered on (issue 18, docs/STACKS.md). A stack is
// an image named "stack.NAME" (images::StackImage): pushed as an archive like a site's, spread
// to every node, versioned; a version a site's kept version stands on is never expired.
#include <map>

#include "src/agent/api/context.h"
#include "src/agent/images.h"
#include "src/images/registry.h"

namespace starling::agent::api {
namespace {

// A push of a stack's archive (the body); its fields, docroot among them, in X-Starling-Push.
Result<Json> PushStack(const Context& c, const Request& request) {
  auto options = WriteParams(request);
  if (!options.ok()) return options.status();
  const std::string stack = request.Match(1);
  if (Status s = images::ValidateStackName(stack); !s.ok()) return s;
  auto header = PushHeader(request);
  if (!header.ok()) return header.status();
  auto fields = PushFields(*header, /*by_path=*/false, /*stack=*/true);
  if (!fields.ok()) return fields.status();
  if (Status s = images::ValidateDocroot(fields->docroot); !s.ok()) return s;
  if (fields->command.empty()) {
    return Status::InvalidArgument("a stack needs its start command (what serves $PORT)");
  }
  if (fields->allow_setuid && request.who.role != auth::Role::kAdmin) {
    return Status::PermissionDenied("allow_setuid needs the admin role");
  }
  if (request.body_file.empty()) return Status::InvalidArgument("send the archive as the body");
  return ImportVersion(c, images::StackImage(stack), request.body_file, *fields,
                       images::Layering{"", "", fields->docroot}, *options);
}

// Every stack: its versions (newest first) with their docroot and the sites standing on each.
Json StacksJson(ImageService& images) {
  std::map<std::string, Json> stacks;
  std::map<std::pair<std::string, std::string>, Json> users;  // (stack, version) → sites
  for (const auto& record : images.Records("")) {
    if (images::IsStackImage(record.site)) continue;
    if (!record.stack.empty()) {
      Json& sites = users[{record.stack, record.stack_version}];
      if (sites.is_null()) sites = Json::array();
      if (std::find(sites.begin(), sites.end(), record.site) == sites.end()) {
        sites.push_back(record.site);
      }
    }
  }
  for (const auto& record : images.Records("")) {
    if (!images::IsStackImage(record.site)) continue;
    const std::string name = record.site.substr(images::kStackPrefix.size());
    Json& stack = stacks[name];
    if (stack.is_null()) stack = {{"name", name}, {"versions", Json::array()}};
    auto used = users.find({record.site, record.version});
    stack["versions"].push_back({{"version", record.version},
                                 {"docroot", record.docroot},
                                 {"command", record.command},
                                 {"files", record.files},
                                 {"bytes", record.bytes},
                                 {"pushed_ms", record.pushed_ms},
                                 {"pushed_by", record.pushed_by},
                                 {"sites", used == users.end() ? Json::array() : used->second}});
  }
  Json all = Json::array();
  for (auto& [name, stack] : stacks) all.push_back(std::move(stack));
  return {{"stacks", all}};
}

}  // namespace

std::vector<Route> StackRoutes(Context& context) {
  const Context* c = &context;
  return {
      // A stack serves every site on it: the cluster's operators push it.
      {Method::kPost, R"(/v1/stacks/([^/]+)/archive)", kOperate,
       [c](const Request& request) { return PushStack(*c, request); }, BodyKind::kFile,
       /*text=*/false, ArchiveLimit(c->config)},
      {Method::kGet, "/v1/stacks", kRead,
       [c](const Request&) { return c->OnIo([c] { return StacksJson(*c->images); }); }},
  };
}

}  // namespace starling::agent::api
