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

Result<std::optional<sites::Release>> ReleaseOf(const Context& c, const std::string& site) {
  std::optional<sites::Release> stored;
  auto entry = c.log->Get(keys::Release(site));
  if (!entry.ok()) return entry.status();
  if (entry->has_value() && !(*entry)->tombstone) {
    auto decoded = sites::DecodeRelease((*entry)->value);
    if (decoded.ok()) stored = std::move(decoded.value());
  }
  auto kept = c.OnIo([&c, site]() -> Result<Json> {
    Json versions = Json::array();
    for (const auto& record : c.images->Records(site)) versions.push_back(record.version);
    return versions;
  });
  if (!kept.ok()) return kept.status();
  return sites::InForce(stored, kept->get<std::vector<std::string>>());
}

namespace {

// The site's spec, or NotFound.
Result<sites::Site> LoadSpec(const Context& c, const std::string& name) {
  if (Status s = sites::ValidateName(name); !s.ok()) return s;
  auto site = c.log->Get(sites::Key(name));
  if (!site.ok()) return site.status();
  if (!site->has_value() || (*site)->tombstone) return Status::NotFound("no site '" + name + "'");
  return sites::Decode((*site)->value);
}

}  // namespace

std::optional<sites::RolloutFailure> StoppedBy(const Context& c, const std::string& site,
                                               const sites::Release& release) {
  auto spec = LoadSpec(c, site);
  if (!spec.ok()) return std::nullopt;
  auto failure = c.log->Get(keys::Rollout(site));
  if (!failure.ok() || !failure->has_value() || (*failure)->tombstone) return std::nullopt;
  auto decoded = sites::DecodeRolloutFailure((*failure)->value);
  if (!decoded.ok() || decoded->tag != sites::Tag(release, *spec)) return std::nullopt;
  return std::move(decoded.value());
}

bool RolloutStopped(const Context& c, const std::string& site, const sites::Release& release) {
  return StoppedBy(c, site, release).has_value();
}

namespace {

// The tag is what copies of the release report (its site's limits are part of it).
Json ReleaseJson(const sites::Release& release, const sites::Site& spec) {
  return {{"version", release.version}, {"previous", release.previous},
          {"restart", release.restart}, {"by", release.by},
          {"at_ms", release.at_ms},     {"tag", fmt::format("{:016x}", sites::Tag(release, spec))}};
}

// The site `request` names, checked to exist, and its release in force.
Result<sites::Release> SiteRelease(const Context& c, const std::string& name) {
  auto spec = LoadSpec(c, name);
  if (!spec.ok()) return spec.status();
  auto release = ReleaseOf(c, name);
  if (!release.ok()) return release.status();
  if (!release->has_value()) {
    return Status::NotFound("site '" + name + "' has no image: push one first");
  }
  return **release;
}

Result<Json> WriteRelease(const Context& c, const Request& request, sites::Release release,
                          const std::string& what) {
  auto options = WriteParams(request);
  if (!options.ok()) return options.status();
  release.by = c.config.node_name;
  release.at_ms = WallMs();
  auto spec = LoadSpec(c, request.Match(1));
  if (!spec.ok()) return spec.status();
  Json answer = ReleaseJson(release, *spec);
  answer["done"] = what;
  return WriteAnswer(c, *options, {{keys::Release(request.Match(1)), sites::Encode(release)}},
                     answer);
}

}  // namespace

std::vector<Route> ReleaseRoutes(Context& context) {
  const Context* c = &context;
  return {
      {Method::kGet, R"(/v1/sites/([^/]+)/release)",
       [c](const Request& request) -> Result<Json> {
         const std::string name = request.Match(1);
         auto release = SiteRelease(*c, name);
         if (!release.ok()) return release.status();
         auto spec = LoadSpec(*c, name);
         if (!spec.ok()) return spec.status();
         Json out = ReleaseJson(*release, *spec);
         out["stopped"] = nullptr;
         if (auto stopped = StoppedBy(*c, name, *release)) {
           out["stopped"] = {
               {"why", stopped->why}, {"node", stopped->node}, {"at_ms", stopped->at_ms}};
         }
         return out;
       }},
      {Method::kPost, R"(/v1/sites/([^/]+)/rollback)",
       [c](const Request& request) -> Result<Json> {
         auto current = SiteRelease(*c, request.Match(1));
         if (!current.ok()) return current.status();
         if (current->previous.empty()) {
           return Status::FailedPrecondition("site '" + request.Match(1) +
                                             "' has no earlier version kept to return to");
         }
         return WriteRelease(
             *c, request,
             {.version = current->previous, .previous = current->version, .restart = 0},
             "rollback");
       }},
      {Method::kPost, R"(/v1/sites/([^/]+)/restart)",
       [c](const Request& request) -> Result<Json> {
         auto current = SiteRelease(*c, request.Match(1));
         if (!current.ok()) return current.status();
         sites::Release next = *current;
         ++next.restart;
         return WriteRelease(*c, request, next, "restart");
       }},
  };
}

}  // namespace starling::agent::api
