// /v1/sites/<name>/release, /rollback, /restart: which image version a site's copies run
// (src/sites/release.h). A rollback returns to the version before; a restart rolls the same
// version again; either is one write, and every node's rules roll the copies to it.
#include <fmt/format.h>

#include "src/agent/api/context.h"
#include "src/agent/clock.h"
#include "src/agent/images.h"
#include "src/sites/release.h"
#include "src/sites/site.h"
#include "src/state/keys.h"

namespace starling::agent::api {
namespace {

// The site's spec, or NotFound.
Result<sites::Site> LoadSpec(const Context& c, const std::string& name) {
  if (Status s = sites::ValidateName(name); !s.ok()) return s;
  auto site = c.log->Get(sites::Key(name));
  if (!site.ok()) return site.status();
  if (!site->has_value() || (*site)->tombstone) return Status::NotFound("no site '" + name + "'");
  return sites::Decode((*site)->value);
}

// The stored value of `key` decoded by `decode`, or nullopt (none, deleted or undecodable).
template <typename T>
Result<std::optional<T>> LoadStored(const Context& c, const std::string& key,
                                    Result<T> (*decode)(std::string_view)) {
  auto entry = c.log->Get(key);
  if (!entry.ok()) return entry.status();
  if (!entry->has_value() || (*entry)->tombstone) return std::optional<T>();
  auto decoded = decode((*entry)->value);
  if (!decoded.ok()) return std::optional<T>();
  return std::optional<T>(std::move(decoded.value()));
}

}  // namespace

Result<std::optional<ReleaseView>> ReleaseOf(const Context& c, const std::string& site) {
  auto spec = LoadSpec(c, site);
  if (!spec.ok()) return spec.status();
  auto stored = LoadStored<sites::Release>(c, keys::Release(site), &sites::DecodeRelease);
  if (!stored.ok()) return stored.status();
  auto failure =
      LoadStored<sites::RolloutFailure>(c, keys::Rollout(site), &sites::DecodeRolloutFailure);
  if (!failure.ok()) return failure.status();
  auto kept = c.OnIo([&c, site]() -> Result<Json> {
    Json versions = Json::array();
    for (const auto& record : c.images->Records(site)) versions.push_back(record.version);
    return versions;
  });
  if (!kept.ok()) return kept.status();
  // The very function every node's rounds use (src/agent/copy_rounds.cc).
  auto state = sites::Resolve(*stored, kept->get<std::vector<std::string>>(), *failure, *spec);
  if (!state) return std::optional<ReleaseView>();
  ReleaseView view{.state = std::move(*state), .spec = std::move(spec.value())};
  if (view.state.stopped) view.stopped_by = *failure;
  return std::optional<ReleaseView>(std::move(view));
}

namespace {

// The tag is what copies of the release report (its site's limits are part of it).
Json ReleaseJson(const sites::Release& release, const sites::Site& spec) {
  return {{"version", release.version}, {"previous", release.previous},
          {"restart", release.restart}, {"by", release.by},
          {"at_ms", release.at_ms},     {"tag", fmt::format("{:016x}", sites::Tag(release, spec))}};
}

// The release of the site `name`, which must exist and have an image.
Result<ReleaseView> SiteRelease(const Context& c, const std::string& name) {
  auto view = ReleaseOf(c, name);
  if (!view.ok()) return view.status();
  if (!view->has_value()) {
    return Status::NotFound("site '" + name + "' has no image: push one first");
  }
  return std::move(**view);
}

Result<Json> WriteRelease(const Context& c, const Request& request, const sites::Site& spec,
                          sites::Release release, const std::string& what) {
  auto options = WriteParams(request);
  if (!options.ok()) return options.status();
  release.by = c.config.node_name;
  release.at_ms = WallMs();
  Json answer = ReleaseJson(release, spec);
  answer["done"] = what;
  return WriteAnswer(c, *options, {{keys::Release(request.Match(1)), sites::Encode(release)}},
                     answer);
}

}  // namespace

std::vector<Route> ReleaseRoutes(Context& context) {
  const Context* c = &context;
  return {
      {Method::kGet, R"(/v1/sites/([^/]+)/release)", kReadSite,
       [c](const Request& request) -> Result<Json> {
         auto view = SiteRelease(*c, request.Match(1));
         if (!view.ok()) return view.status();
         Json out = ReleaseJson(view->state.release, view->spec);
         out["stopped"] = nullptr;
         if (const auto& stopped = view->stopped_by) {
           out["stopped"] = {
               {"why", stopped->why}, {"node", stopped->node}, {"at_ms", stopped->at_ms}};
         }
         return out;
       }},
      {Method::kPost, R"(/v1/sites/([^/]+)/rollback)", kOperateSite,
       [c](const Request& request) -> Result<Json> {
         auto view = SiteRelease(*c, request.Match(1));
         if (!view.ok()) return view.status();
         const sites::Release& current = view->state.release;
         if (current.previous.empty()) {
           return Status::FailedPrecondition("site '" + request.Match(1) +
                                             "' has no earlier version kept to return to");
         }
         return WriteRelease(
             *c, request, view->spec,
             {.version = current.previous, .previous = current.version, .restart = 0}, "rollback");
       }},
      {Method::kPost, R"(/v1/sites/([^/]+)/restart)", kOperateSite,
       [c](const Request& request) -> Result<Json> {
         auto view = SiteRelease(*c, request.Match(1));
         if (!view.ok()) return view.status();
         sites::Release next = view->state.release;
         ++next.restart;
         return WriteRelease(*c, request, view->spec, next, "restart");
       }},
  };
}

}  // namespace starling::agent::api
