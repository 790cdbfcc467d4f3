// The database cluster: `db status` (every db node's member and every worker's endpoint) and
// `db show SITE` (a site's database settings, as its copies get them).
#include <fmt/format.h>

#include <memory>

#include "src/cli/commands.h"

namespace starling::cli {
namespace {

struct State {
  std::string site;
  bool show_password = false;
};

// Every live member's /v1/db (db nodes and workers; others have none).
Result<Json> GatherDb(const Globals& g) {
  auto members = Call(g.api, "GET", "/v1/members");
  if (!members.ok()) return members.status();
  auto self = Call(g.api, "GET", "/v1/self");
  const std::string self_name = self.ok() ? self->value("name", "") : "";
  Json all = Json::array();
  for (const auto& member : (*members)["members"]) {
    if (member["status"] != "alive" || !member.contains("api")) continue;
    const std::string name = member["name"].get<std::string>();
    auto state =
        Call(name == self_name ? g.api : member["api"].get<std::string>(), "GET", "/v1/db");
    if (!state.ok()) {
      if (state.status().code() != StatusCode::kNotFound) {
        std::fprintf(stderr, "starling: %s: %s\n", name.c_str(), state.status().message().c_str());
      }
      continue;
    }
    all.push_back(std::move(*state));
  }
  return all;
}

int PrintStatus(const Json& all) {
  std::printf("%-16s %-12s %5s %14s %6s %9s  %-16s %s\n", "NODE", "DATABASE", "SIZE",
              "LAST COMMITTED", "READY", "FLOW CTRL", "ENDPOINT WRITER", "WHY");
  size_t members = 0;
  for (const auto& node : all) {
    const Json member = node.value("member", Json::object());
    const Json endpoint = node.value("endpoint", Json::object());
    if (!member.empty()) ++members;
    const std::string writer = endpoint.empty() ? "-"
                                                : (endpoint.value("writer", "").empty()
                                                       ? "none"
                                                       : endpoint["writer"].get<std::string>());
    const std::string why = member.value("why", endpoint.value("why", ""));
    auto field = [&](const char* key, auto show) -> std::string {
      return member.contains(key) ? show(member[key]) : std::string("-");
    };
    const std::string size =
        field("cluster_size", [](const Json& v) { return std::to_string(v.get<unsigned>()); });
    const std::string committed =
        field("last_committed", [](const Json& v) { return std::to_string(v.get<int64_t>()); });
    const std::string ready =
        field("ready", [](const Json& v) { return std::string(v.get<bool>() ? "yes" : "no"); });
    const std::string paused = field("flow_control_paused", [](const Json& v) {
      return fmt::format("{:.1f}%", 100 * v.get<double>());
    });
    std::printf("%-16s %-12s %5s %14s %6s %9s  %-16s %s\n", node["node"].get<std::string>().c_str(),
                member.empty() ? "-" : member.value("state", "?").c_str(), size.c_str(),
                committed.c_str(), ready.c_str(), paused.c_str(), writer.c_str(), why.c_str());
  }
  if (members == 0) std::printf("(no db node: give some nodes roles = [\"worker\", \"db\"])\n");
  return 0;
}

}  // namespace

void AddDbCommands(CLI::App& app, Globals* g, int* exit_code) {
  auto s = std::make_shared<State>();
  auto* db = app.add_subcommand("db", "The sites' databases (MariaDB Galera on the db nodes)");
  db->require_subcommand(1);

  auto* status = db->add_subcommand(
      "status",
      "Every db node's member (state, cluster size, last committed, flow control) and "
      "the writer every worker's endpoint leads to");
  AddJsonFlag(status, g);
  OnRun(status, exit_code, [g]() -> int {
    auto all = GatherDb(*g);
    if (!all.ok()) return Fail(all.status());
    return g->json ? PrintJson(*all) : PrintStatus(*all);
  });

  auto* show = db->add_subcommand("show", "A site's database settings, as its copies get them");
  show->add_option("site", s->site, "Site name")->required();
  show->add_flag("--show-password", s->show_password, "Print the password too");
  AddJsonFlag(show, g);
  OnRun(show, exit_code, [g, s]() -> int {
    auto answer =
        Call(g->api, "GET", "/v1/db/sites/" + s->site + (s->show_password ? "/password" : ""));
    if (!answer.ok()) return Fail(answer.status());
    if (g->json) return PrintJson(*answer);
    std::printf("host      %s (the endpoint on the node a copy runs on)\n",
                (*answer)["host"].get<std::string>().c_str());
    std::printf("port      %d\n", (*answer)["port"].get<int>());
    std::printf("database  %s\n", (*answer)["name"].get<std::string>().c_str());
    std::printf("user      %s\n", (*answer)["user"].get<std::string>().c_str());
    if (answer->contains("password")) {
      std::printf("password  %s\n", (*answer)["password"].get<std::string>().c_str());
      std::printf("url       %s\n", (*answer)["url"].get<std::string>().c_str());
    } else {
      std::printf("password  (--show-password; copies get it as DB_PASSWORD)\n");
    }
    return 0;
  });
}

}  // namespace starling::cli
