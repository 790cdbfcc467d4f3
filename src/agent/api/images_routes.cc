// /v1/images: site images (src/agent/images.h). A push sends the archive as the body (the CLI
// makes it from a directory), or, for the node's own operator, names a path on the node. It is
// imported on this node (the HTTP thread does the work: it may take minutes), then the version's
// record is written, and the versions beyond the kept ones are removed in the same write.
#include <filesystem>
#include <map>
#include <set>

#include "src/agent/api/context.h"
#include "src/agent/background.h"
#include "src/agent/images.h"
#include "src/sites/site.h"
#include "src/state/keys.h"

namespace starling::agent::api {

Result<PushRequest> PushFields(const Json& body, bool by_path, bool stack) {
  static const std::set<std::string> kKnown = {"path", "command", "env", "allow_setuid"};
  for (const auto& [key, value] : body.items()) {
    const bool known =
        kKnown.contains(key) || (key == "stack" && !stack) || (key == "docroot" && stack);
    if (!known || (key == "path" && !by_path)) {
      return Status::InvalidArgument("unknown field '" + key + "'");
    }
  }
  PushRequest push;
  for (auto [key, out] : {std::pair{"stack", &push.stack}, {"docroot", &push.docroot}}) {
    if (!body.contains(key)) continue;
    if (!body[key].is_string())
      return Status::InvalidArgument(std::string(key) + " must be a string");
    *out = body[key].get<std::string>();
  }
  if (by_path) {
    if (!body.contains("path") || !body["path"].is_string()) {
      return Status::InvalidArgument("path must be a string: a directory or tar archive");
    }
    push.path = body["path"];
    if (push.path.empty() || push.path.front() != '/') {
      return Status::InvalidArgument("path must be absolute (it is read by the agent)");
    }
  }
  if (body.contains("command")) {
    const Json& command = body["command"];
    // A string is a shell command line, kept as written: the image's /bin/sh runs it at start,
    // inside the copy, so $PORT and the image's variables are the copy's. An array is the exact
    // argv, run as it is (no expansion).
    if (command.is_string()) {
      const std::string line = command.get<std::string>();
      if (line.empty() || line.size() > 4096 || line.find('\0') != std::string::npos) {
        return Status::InvalidArgument("command must be 1 to 4096 characters, without NUL");
      }
      push.command = {"/bin/sh", "-c", line};
    } else if (!command.is_array() || command.size() > 256) {
      return Status::InvalidArgument(
          "command must be a shell command line (a string) or an array of at most 256 strings");
    }
    for (const auto& arg : command.is_array() ? command : Json::array()) {
      if (!arg.is_string() || arg.get<std::string>().size() > 4096) {
        return Status::InvalidArgument("command entries must be strings of at most 4 KiB");
      }
      push.command.push_back(arg);
    }
  }
  if (body.contains("env")) {
    const Json& env = body["env"];
    if (!env.is_object() || env.size() > 256) {
      return Status::InvalidArgument("env must be an object of at most 256 strings");
    }
    for (const auto& [name, value] : env.items()) {
      if (name.empty() || name.find('=') != std::string::npos || !value.is_string()) {
        return Status::InvalidArgument("env names must be non-empty without '=', values strings");
      }
      push.env.emplace_back(name, value.get<std::string>());
    }
  }
  if (body.contains("allow_setuid")) {
    if (!body["allow_setuid"].is_boolean()) {
      return Status::InvalidArgument("allow_setuid must be true or false");
    }
    push.allow_setuid = body["allow_setuid"];
  }
  return push;
}

Result<Json> PushHeader(const Request& request) {
  const std::string text = request.Header("x-starling-push");
  if (text.empty()) return Json::object();
  auto parsed = ParseJsonObject(text, 8);
  if (!parsed.ok()) return Status::InvalidArgument("X-Starling-Push: " + parsed.status().message());
  return parsed;
}

size_t ArchiveLimit(const AgentConfig& config) {
  return config.images.max_image_mb == 0 ? size_t{64} << 30
                                         : size_t{config.images.max_image_mb} << 20;
}

Result<Json> ImportVersion(const Context& c, const std::string& site, const std::string& path,
                           const PushRequest& fields, const images::Layering& layering,
                           const WriteOptions& write) {
  const bool released = !images::IsStackImage(site);  // a stack has no release
  auto previous = c.OnIo([&c, site]() -> Result<Json> {
    auto latest = c.images->Latest(site);
    return Json{{"previous", latest ? images::EncodeRecord(*latest) : ""}};
  });
  if (!previous.ok()) return previous.status();
  std::optional<images::ImageRecord> before;
  if (const std::string text = (*previous)["previous"]; !text.empty()) {
    if (auto decoded = images::DecodeRecord(text); decoded.ok()) before = *decoded;
  }
  // Garbage collection waits while an import runs and until its record is written.
  c.images->BeginImport();
  // Hashing and compressing a whole tree: at the background threads' priority (background.h).
  Result<std::pair<images::ImageRecord, Json>> imported = Status::Unavailable("not imported");
  RunInBackground([&] {
    imported = c.images->Import(site, path, fields.command, fields.env, fields.allow_setuid, before,
                                fields.quota_bytes, layering);
  });
  if (!imported.ok()) {
    c.images->EndImport();
    return imported.status();
  }
  const images::ImageRecord record = imported->first;
  Json summary = imported->second;
  auto expired = c.OnIo(
      [&c, site, record]() -> Result<Json> { return Json(c.images->Expired(site, record)); });
  Result<Json> answer = Status::Unavailable("not written");
  if (!expired.ok()) {
    answer = expired.status();
  } else {
    std::vector<Put> puts;
    for (const auto& key : *expired) puts.push_back({key.get<std::string>(), "", true});
    // The new version is the site's release: its copies are rolled to it (make before break).
    // The one before is what copies fall back to if this one fails: over a stopped rollout
    // that is still the release before it.
    auto current = released ? ReleaseOf(c, site) : Status::NotFound("a stack has no release");
    if (current.ok()) {
      const sites::ReleaseState* now = current->has_value() ? &(*current)->state : nullptr;
      if (now == nullptr || now->release.version != record.version) {
        const sites::Release release{.version = record.version,
                                     .previous = now == nullptr ? ""
                                                 : now->stopped ? now->release.previous
                                                                : now->release.version,
                                     .by = c.config.node_name,
                                     .at_ms = record.pushed_ms};
        puts.push_back({keys::Release(site), sites::Encode(release)});
      }
    }
    puts.push_back({images::RecordKey(site, record.version), images::EncodeRecord(record)});
    summary["removed_versions"] = expired->size();
    answer = WriteAnswer(c, write, std::move(puts), summary);
    // The version is among the node's own before garbage collection may run again.
    c.OnIo([&c]() -> Result<Json> {
       c.images->Refresh();
       return Json();
     })
        .status()
        .IgnoreError();
  }
  c.images->EndImport();
  return answer;
}

namespace {

// Checks a push's site, and who may push what: the site must exist; allow_setuid is the admin's.
// Sets the push's quota from the site.
Status CheckPush(const Context& c, const Request& request, const std::string& site,
                 PushRequest* fields) {
  if (Status s = sites::ValidateName(site); !s.ok()) return s;
  auto existing = c.log->Get(sites::Key(site));
  if (!existing.ok()) return existing.status();
  if (!existing->has_value() || (*existing)->tombstone) {
    return Status::NotFound("no site '" + site + "': create it first");
  }
  if (fields->allow_setuid && request.who.role != auth::Role::kAdmin) {
    return Status::PermissionDenied("allow_setuid needs the admin role");
  }
  auto spec = sites::Decode((*existing)->value);
  if (!spec.ok()) return spec.status();
  fields->quota_bytes = uint64_t{spec->image_quota_mb} << 20;
  return Status::Ok();
}

// The layering of a site's push on `fields->stack` (none: a whole root): the stack's newest
// version; the command and env the push leaves out are the stack's.
Result<images::Layering> OnStack(const Context& c, PushRequest* fields) {
  if (fields->stack.empty()) return images::Layering{};
  if (Status s = images::ValidateStackName(fields->stack); !s.ok()) return s;
  const std::string image = images::StackImage(fields->stack);
  auto latest = c.OnIo([&c, image]() -> Result<Json> {
    auto record = c.images->Latest(image);
    return Json(record ? images::EncodeRecord(*record) : "");
  });
  if (!latest.ok()) return latest.status();
  if (latest->get<std::string>().empty()) {
    return Status::NotFound("no stack '" + fields->stack + "' (starling stack ls)");
  }
  auto stack = images::DecodeRecord(latest->get<std::string>());
  if (!stack.ok()) return stack.status();
  if (fields->command.empty()) fields->command = stack->command;
  std::map<std::string, std::string> env(stack->env.begin(), stack->env.end());
  for (const auto& [name, value] : fields->env) env[name] = value;
  fields->env.assign(env.begin(), env.end());
  return images::Layering{image, stack->version, ""};
}

// A push by path: the tree or archive is read on this node's disk, as the agent, so only the
// node's operator may name one (its socket or the cluster key), never a token's holder, and
// never inside the agent's data.
Result<Json> Push(const Context& c, const Request& request) {
  auto options = WriteParams(request);
  if (!options.ok()) return options.status();
  const std::string site = request.Match(1);
  auto fields = PushFields(request.body, /*by_path=*/true, /*stack=*/false);
  if (!fields.ok()) return fields.status();
  if (Status s = CheckPush(c, request, site, &*fields); !s.ok()) return s;
  if (request.who.source == auth::Source::kToken) {
    return Status::PermissionDenied(
        "an image path is read on the node's own disk: only the node's operator (its unix socket "
        "or the cluster key) may push by path; send the archive instead (starling image push)");
  }
  std::error_code ec;
  const auto tree = std::filesystem::weakly_canonical(fields->path, ec);
  const auto data = std::filesystem::weakly_canonical(c.config.data_dir, ec);
  if (!ec && (tree == data || tree.string().starts_with(data.string() + "/") ||
              data.string().starts_with(tree.string() == "/" ? "/" : tree.string() + "/"))) {
    return Status::PermissionDenied("'" + fields->path +
                                    "' holds or lies in the agent's data dir: not an image");
  }
  auto layering = OnStack(c, &*fields);
  if (!layering.ok()) return layering.status();
  return ImportVersion(c, site, fields->path, *fields, *layering, *options);
}

// A push of an archive sent as the body (written to a file as it came); its fields ride in the
// X-Starling-Push header as JSON.
Result<Json> PushArchive(const Context& c, const Request& request) {
  auto options = WriteParams(request);
  if (!options.ok()) return options.status();
  const std::string site = request.Match(1);
  auto header = PushHeader(request);
  if (!header.ok()) return header.status();
  auto fields = PushFields(*header, /*by_path=*/false, /*stack=*/false);
  if (!fields.ok()) return fields.status();
  if (Status s = CheckPush(c, request, site, &*fields); !s.ok()) return s;
  if (request.body_file.empty()) return Status::InvalidArgument("send the archive as the body");
  auto layering = OnStack(c, &*fields);
  if (!layering.ok()) return layering.status();
  return ImportVersion(c, site, request.body_file, *fields, *layering, *options);
}

Result<Json> Remove(const Context& c, const Request& request) {
  auto options = WriteParams(request);
  if (!options.ok()) return options.status();
  const std::string site = request.Match(1);
  const std::string version = request.Match(2);
  if (Status s = sites::ValidateName(site); !s.ok()) return s;
  auto keys = c.OnIo([&c, site, version]() -> Result<Json> {
    Json found = Json::array();
    for (const auto& record : c.images->Records(site)) {
      if (version.empty() || record.version == version) {
        found.push_back(images::RecordKey(site, record.version));
      }
    }
    return found;
  });
  if (!keys.ok()) return keys.status();
  if (keys->empty()) {
    return Status::NotFound(version.empty() ? "site '" + site + "' has no image"
                                            : "no version " + version + " of '" + site + "'");
  }
  std::vector<Put> puts;
  for (const auto& key : *keys) puts.push_back({key.get<std::string>(), "", true});
  return WriteAnswer(c, *options, std::move(puts), {{"removed_versions", keys->size()}});
}

// A GET whose first capture is a site name: validated, then `query(site)` on the io thread.
template <typename F>
Route GetForSite(const Context* c, const char* pattern, F query) {
  return {Method::kGet, pattern, kReadSite, [c, query](const Request& request) -> Result<Json> {
            const std::string site = request.Match(1);
            if (Status s = sites::ValidateName(site); !s.ok()) return s;
            return c->OnIo([c, query, site] { return query(*c->images, site); });
          }};
}

}  // namespace

std::vector<Route> ImageRoutes(Context& context) {
  const Context* c = &context;
  return {
      {Method::kPost, R"(/v1/images/([^/]+))", kOperateSite,
       [c](const Request& request) { return Push(*c, request); }, BodyKind::kJson},
      {Method::kPost, R"(/v1/images/([^/]+)/archive)", kOperateSite,
       [c](const Request& request) { return PushArchive(*c, request); }, BodyKind::kFile,
       /*text=*/false, ArchiveLimit(c->config)},
      {Method::kGet, "/v1/images", kRead,
       [c](const Request&) { return c->OnIo([c] { return c->images->ListJson(""); }); }},
      GetForSite(c, R"(/v1/images/([^/]+))",
                 [](ImageService& images, const std::string& site) -> Result<Json> {
                   return images.ListJson(site);
                 }),
      GetForSite(c, R"(/v1/images/([^/]+)/status)",
                 [](ImageService& images, const std::string& site) -> Result<Json> {
                   return images.StatusJson(site);
                 }),
      {Method::kGet, R"(/v1/images/([^/]+)/([0-9a-f]{64})/missing)", kReadSite,
       [c](const Request& request) {
         const std::string site = request.Match(1), version = request.Match(2);
         return c->OnIo(
             [c, site, version] { return c->images->MissingJson(site, version, 100000); });
       }},
      // One version, or every version of a site.
      {Method::kDelete, R"(/v1/images/([^/]+)(?:/([0-9a-f]{64}))?)", kOperateSite,
       [c](const Request& request) { return Remove(*c, request); }},
      {Method::kPost, "/v1/images-verify", kOperate,
       [c](const Request&) {
         return c->OnIo([c] {
           c->images->Scrub();
           return Json{{"verifying", true}};
         });
       }},
  };
}

}  // namespace starling::agent::api
