// The sites: `site create|update|scale|delete|list|show`.
#include <memory>
#include <tuple>

#include "src/cli/commands.h"

namespace starling::cli {
namespace {

std::string Domains(const Json& site) {
  std::string domains;
  for (const auto& d : site["domains"]) {
    domains += (domains.empty() ? "" : ",") + d.get<std::string>();
  }
  return domains.empty() ? "-" : domains;
}

int PrintSites(const Json& sites) {
  std::printf("%-24s %-4s %-4s %-5s %-5s %s\n", "NAME", "MIN", "MAX", "UP", "DOWN", "DOMAINS");
  for (const auto& site : sites) {
    std::printf("%-24s %-4u %-4u %-5.2f %-5.2f %s\n", site["name"].get<std::string>().c_str(),
                site["min"].get<unsigned>(), site["max"].get<unsigned>(), site["up"].get<double>(),
                site["down"].get<double>(), Domains(site).c_str());
  }
  return 0;
}

int PrintSite(const Json& site) {
  std::printf("name     %s\n", site["name"].get<std::string>().c_str());
  std::printf("domains  %s\n", Domains(site).c_str());
  std::printf("copies   %u to %u (one more at load %.2f, one fewer under %.2f)\n",
              site["min"].get<unsigned>(), site["max"].get<unsigned>(), site["up"].get<double>(),
              site["down"].get<double>());
  std::printf("limits   %u MB memory, %u processes per copy\n", site["memory_mb"].get<unsigned>(),
              site["pids"].get<unsigned>());
  std::printf("start    serving within %u s, or the copy has failed\n",
              site.value("start_timeout_s", 60u));
  std::printf("bodies   up to %u MB per request at the balancers\n",
              site.value("max_body_mb", 16u));
  if (const unsigned quota = site.value("image_quota_mb", 0u); quota > 0) {
    std::printf("images   up to %u MB of files (at most the nodes' own quota)\n", quota);
  } else {
    std::printf("images   up to the nodes' quota (images.max_image_mb)\n");
  }
  if (site.value("database", false)) {
    std::printf("database its own (starling db show %s)\n",
                site["name"].get<std::string>().c_str());
  }
  for (const auto& path : site.value("persist", Json::array())) {
    std::printf("persist  %s (shared by its copies)\n", path.get<std::string>().c_str());
  }
  if (const unsigned quota = site.value("files_quota_mb", 0u); quota > 0) {
    std::printf("files    up to %u MB\n", quota);
  }
  const Json env = site.value("env", Json::object());  // (kept: items() does not own it)
  for (const auto& [name, value] : env.items()) {
    std::printf("env      %s=%s\n", name.c_str(), value.get<std::string>().c_str());
  }
  const Json secrets = site.value("secrets", Json::object());
  for (const auto& [name, fingerprint] : secrets.items()) {
    std::printf("secret   %s (sealed)\n", name.c_str());
  }
  return 0;
}

// The release in force, its rollout, and each copy's version and state (of `site show`'s JSON).
int PrintRelease(const Json& site) {
  if (!site.contains("release")) {
    std::printf("release  none: no image pushed yet\n");
    return 0;
  }
  const Json& release = site["release"];
  const std::string tag = release["tag"];
  std::string line = release["version"].get<std::string>().substr(0, 12);
  if (release["restart"].get<unsigned>() > 0) {
    line += " (restart " + std::to_string(release["restart"].get<unsigned>()) + ")";
  }
  if (!release["previous"].get<std::string>().empty()) {
    line += ", before it " + release["previous"].get<std::string>().substr(0, 12);
  }
  std::printf("release  %s\n", line.c_str());
  size_t current = 0, live = 0;
  for (const auto& copy : site["copies"]) {
    if (copy["state"] == "stopping" || copy["state"] == "failed") continue;
    ++live;
    current += copy.value("release", "") == tag;
  }
  if (!release["stopped"].is_null()) {
    std::printf(
        "rollout  STOPPED: %s (on %s); %zu of %zu copies run it; `starling site "
        "rollback` or push a fixed version\n",
        release["stopped"]["why"].get<std::string>().c_str(),
        release["stopped"]["node"].get<std::string>().c_str(), current, live);
  } else if (current == live) {
    std::printf("rollout  done: every copy (%zu) runs it\n", live);
  } else {
    std::printf("rollout  in progress: %zu of %zu copies run it\n", current, live);
  }
  if (site["copies"].empty()) return 0;
  std::printf("\n%-16s %-10s %6s %-12s %-8s %s\n", "NODE", "STATE", "PORT", "VERSION", "RELEASE",
              "COPY");
  for (const auto& copy : site["copies"]) {
    std::printf("%-16s %-10s %6u %-12s %-8s %s\n", copy["node"].get<std::string>().c_str(),
                copy["state"].get<std::string>().c_str(), copy["port"].get<unsigned>(),
                copy["version"].get<std::string>().substr(0, 12).c_str(),
                copy.value("release", "") == tag ? "current" : "older",
                copy["id"].get<std::string>().c_str());
  }
  return 0;
}

// "written at node-1/0123456789abcdef #7" of a write's answer.
std::string WrittenAt(const Json& answer) {
  if (!answer.contains("written")) return "";
  return " (written at " + answer["written"]["origin"].get<std::string>() + " #" +
         std::to_string(answer["written"]["seq"].get<uint64_t>()) + ")";
}

struct State {
  std::string name;
  std::vector<std::string> domains;
  unsigned min = 1, max = 8, memory_mb = 512, pids = 256, start_timeout_s = 60, max_body_mb = 16,
           surge = 1, image_quota_mb = 0;
  bool database = false;
  bool drop_database = false;
  std::vector<std::string> env, unset_env, secret, unset_secret, persist, unpersist;
  unsigned files_quota_mb = 0;
  double up = 2.0, down = 1.0;
  WriteFlags write;
};

void AddFields(CLI::App* command, State* s) {
  command->add_option("--domain", s->domains, "A domain the site answers (repeat for more)");
  command->add_option("--min", s->min, "Fewest copies");
  command->add_option("--max", s->max, "Most copies");
  command->add_option("--up", s->up, "Load average per copy that adds a copy");
  command->add_option("--down", s->down, "Load average per copy under which a copy is removed");
  command->add_option("--memory-mb", s->memory_mb, "Each copy's memory limit (MB)");
  command->add_option("--pids", s->pids, "Each copy's limit on processes and threads");
  command->add_option("--start-timeout-s", s->start_timeout_s,
                      "A copy not answering on its port by then has failed (default 60)");
  command->add_option("--max-body-mb", s->max_body_mb,
                      "Largest request body the balancers pass on, in MB (default 16)");
  command->add_option("--surge", s->surge, "Copies a rollout replaces at once (default 1)");
  command->add_option("--image-quota-mb", s->image_quota_mb,
                      "Largest image a push may make, in MB (0: the nodes' images.max_image_mb, "
                      "which also caps it; not with the site's own token)");
  command->add_flag("--database,!--no-database", s->database,
                    "Give the site a database of its own on the cluster's MariaDB (its copies get "
                    "DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD, DATABASE_URL); "
                    "--no-database keeps the database but stops asking for it");
  const auto pair = CLI::Validator(
      [](std::string& text) -> std::string {
        const auto eq = text.find('=');
        return eq == std::string::npos || eq == 0 ? "takes NAME=VALUE" : "";
      },
      "NAME=VALUE");
  command->add_option("--env", s->env, "A setting for its copies' environment (repeat)")
      ->check(pair);
  command->add_option("--unset-env", s->unset_env, "Remove a setting (repeat)");
  command
      ->add_option("--secret", s->secret,
                   "A secret setting: sealed in the state log, shown by name only (repeat)")
      ->check(pair);
  command->add_option("--unset-secret", s->unset_secret, "Remove a secret (repeat)");
  command->add_option("--persist", s->persist,
                      "A path under the document root every copy shares on the cluster's file "
                      "system, kept across copies, servers and versions (repeat)");
  command->add_option("--unpersist", s->unpersist,
                      "Stop sharing a path (its files stay on the file system; repeat)");
  command->add_option("--files-quota-mb", s->files_quota_mb,
                      "Most MB its persisted files may take (0: no quota; not with the site's own "
                      "token)");
}

// The fields given on `command`'s line only: an update changes just those.
Json Body(CLI::App* command, const State& s, bool all_fields) {
  Json body = Json::object();
  if (command->count("--min") > 0) body["min"] = s.min;
  if (command->count("--max") > 0) body["max"] = s.max;
  if (!all_fields) return body;
  if (command->count("--domain") > 0) body["domains"] = s.domains;
  if (command->count("--up") > 0) body["up"] = s.up;
  if (command->count("--down") > 0) body["down"] = s.down;
  if (command->count("--memory-mb") > 0) body["memory_mb"] = s.memory_mb;
  if (command->count("--pids") > 0) body["pids"] = s.pids;
  if (command->count("--start-timeout-s") > 0) body["start_timeout_s"] = s.start_timeout_s;
  if (command->count("--max-body-mb") > 0) body["max_body_mb"] = s.max_body_mb;
  if (command->count("--surge") > 0) body["surge"] = s.surge;
  if (command->count("--image-quota-mb") > 0) body["image_quota_mb"] = s.image_quota_mb;
  if (command->count("--database") + command->count("--no-database") > 0) {
    body["database"] = s.database;
  }
  // NAME=VALUE sets, --unset-... NAME removes (checked NAME=VALUE by the options).
  for (const auto& [field, sets, unsets] :
       {std::tuple{"env", &s.env, &s.unset_env}, {"secrets", &s.secret, &s.unset_secret}}) {
    if (sets->empty() && unsets->empty()) continue;
    Json merge = Json::object();
    for (const auto& pair : *sets) {
      const auto eq = pair.find('=');
      merge[pair.substr(0, eq)] = pair.substr(eq + 1);
    }
    for (const auto& name : *unsets) merge[name] = nullptr;
    body[field] = merge;
  }
  if (!s.persist.empty() || !s.unpersist.empty()) {
    Json merge = Json::object();
    for (const auto& path : s.persist) merge[path] = true;
    for (const auto& path : s.unpersist) merge[path] = nullptr;
    body["persist"] = merge;
  }
  if (command->count("--files-quota-mb") > 0) body["files_quota_mb"] = s.files_quota_mb;
  return body;
}

}  // namespace

void AddSiteCommands(CLI::App& app, Globals* g, int* exit_code) {
  auto s = std::make_shared<State>();
  auto* site = app.add_subcommand("site", "Manage hosted sites (the replicated state log)");
  site->require_subcommand(1);

  auto* create = site->add_subcommand("create", "Create a site");
  create->add_option("name", s->name, "Site name")->required();
  AddFields(create, s.get());
  AddWriteFlags(create, &s->write);
  AddJsonFlag(create, g);
  OnRun(create, exit_code, [g, s, create]() -> int {
    Json body = Body(create, *s, true);
    body["name"] = s->name;
    auto answer =
        Call(g->api, "POST", "/v1/sites" + s->write.Query(), body, s->write.WaitSeconds());
    if (!answer.ok()) return Fail(answer.status());
    if (g->json) return PrintJson(*answer);
    std::printf("site %s created%s\n", s->name.c_str(), WrittenAt(*answer).c_str());
    return PrintSite(*answer);
  });

  auto* update = site->add_subcommand("update", "Change a site's fields");
  update->add_option("name", s->name, "Site name")->required();
  AddFields(update, s.get());
  AddWriteFlags(update, &s->write);
  AddJsonFlag(update, g);
  auto* scale = site->add_subcommand("scale", "Set a site's fewest and most copies (--min, --max)");
  scale->add_option("name", s->name, "Site name")->required();
  scale->add_option("--min", s->min, "Fewest copies");
  scale->add_option("--max", s->max, "Most copies");
  AddWriteFlags(scale, &s->write);
  AddJsonFlag(scale, g);
  for (CLI::App* command : {update, scale}) {
    OnRun(command, exit_code, [g, s, command, scale]() -> int {
      if (command == scale && command->count("--min") + command->count("--max") == 0) {
        return Fail(Status::InvalidArgument("site scale needs --min, --max or both"));
      }
      auto answer = Call(g->api, "PATCH", "/v1/sites/" + s->name + s->write.Query(),
                         Body(command, *s, command != scale), s->write.WaitSeconds());
      if (!answer.ok()) return Fail(answer.status());
      if (g->json) return PrintJson(*answer);
      std::printf("site %s updated%s\n", s->name.c_str(), WrittenAt(*answer).c_str());
      return PrintSite(*answer);
    });
  }

  auto* remove = site->add_subcommand("delete", "Delete a site (its database stays unless asked)");
  remove->add_option("name", s->name, "Site name")->required();
  remove->add_flag("--drop-database", s->drop_database,
                   "Drop its database and user too (otherwise kept: db dump SITE still works)");
  AddWriteFlags(remove, &s->write);
  AddJsonFlag(remove, g);
  OnRun(remove, exit_code, [g, s]() -> int {
    const std::string query = s->write.Query() + (s->drop_database ? "&drop_database=1" : "");
    auto answer =
        Call(g->api, "DELETE", "/v1/sites/" + s->name + query, nullptr, s->write.WaitSeconds());
    if (!answer.ok()) return Fail(answer.status());
    if (g->json) return PrintJson(*answer);
    std::printf("site %s deleted%s\n", s->name.c_str(), WrittenAt(*answer).c_str());
    const std::string database = answer->value("database", "");
    if (database == "kept") {
      std::printf("its database is kept (db dump %s; site delete --drop-database drops it)\n",
                  s->name.c_str());
    } else if (database == "dropping") {
      std::printf("its database and user are dropped by the writer's node\n");
    }
    return 0;
  });

  auto* list = site->add_subcommand("list", "List sites");
  AddJsonFlag(list, g);
  OnRun(list, exit_code, [g]() -> int {
    auto answer = Call(g->api, "GET", "/v1/sites");
    if (!answer.ok()) return Fail(answer.status());
    return g->json ? PrintJson(*answer) : PrintSites((*answer)["sites"]);
  });

  auto* show = site->add_subcommand(
      "show", "Show one site: its fields, its release and rollout, and where its copies run");
  show->add_option("name", s->name, "Site name")->required();
  AddJsonFlag(show, g);
  OnRun(show, exit_code, [g, s]() -> int {
    auto answer = Call(g->api, "GET", "/v1/sites/" + s->name);
    if (!answer.ok()) return Fail(answer.status());
    Json out = *answer;
    // The release and the copies are shown when there are some (a site without an image has
    // neither).
    auto release = Call(g->api, "GET", "/v1/sites/" + s->name + "/release");
    if (release.ok()) out["release"] = *release;
    Json copies = Json::array();
    if (Status gathered = Gather(*g, "/v1/copies", "copies", &copies); !gathered.ok()) {
      return Fail(gathered);
    }
    out["copies"] = Json::array();
    for (const auto& copy : copies) {
      if (copy["site"] == s->name) out["copies"].push_back(copy);
    }
    if (g->json) return PrintJson(out);
    PrintSite(out);
    return PrintRelease(out);
  });

  // Rollback and restart: a new release, rolled out like a push (make before break).
  for (const char* verb : {"rollback", "restart"}) {
    const bool back = std::string(verb) == "rollback";
    auto* command = site->add_subcommand(
        verb, back ? "Return the site's copies to the version before, one copy at a time"
                   : "Replace every copy of the site with a fresh one, one at a time");
    command->add_option("name", s->name, "Site name")->required();
    AddWriteFlags(command, &s->write);
    AddJsonFlag(command, g);
    OnRun(command, exit_code, [g, s, verb, back]() -> int {
      auto answer = Call(g->api, "POST", "/v1/sites/" + s->name + "/" + verb + s->write.Query(),
                         Json::object(), s->write.WaitSeconds());
      if (!answer.ok()) return Fail(answer.status());
      if (g->json) return PrintJson(*answer);
      const std::string version = (*answer)["version"].get<std::string>().substr(0, 12);
      if (back) {
        std::printf("site %s goes back to version %s%s; `starling site show %s` follows it\n",
                    s->name.c_str(), version.c_str(), WrittenAt(*answer).c_str(), s->name.c_str());
      } else {
        std::printf(
            "site %s restarts on version %s (restart %u)%s; `starling site show %s` "
            "follows it\n",
            s->name.c_str(), version.c_str(), (*answer)["restart"].get<unsigned>(),
            WrittenAt(*answer).c_str(), s->name.c_str());
      }
      return 0;
    });
  }
}

}  // namespace starling::cli
