// The copies: `copies [--site S]`, `logs SITE [--follow]` and `events [--follow] [--kind K] [--site
// S]`, gathered from every live node's own API.
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <thread>

#include "src/cli/commands.h"
#include "src/sites/site.h"

namespace starling::cli {
namespace {

struct State {
  std::string site, kind, node;
  bool follow = false;
  unsigned lines = 100;
};

}  // namespace

void AddCopyCommands(CLI::App& app, Globals* g, int* exit_code) {
  auto s = std::make_shared<State>();
  auto* copies = app.add_subcommand("copies", "List the copies of sites, on every live node");
  copies->add_option("--site", s->site, "Only this site's copies");
  AddJsonFlag(copies, g);
  OnRun(copies, exit_code, [g, s]() -> int {
    Json all = Json::array();
    if (Status status = Gather(*g, "/v1/copies", "copies", &all, nullptr); !status.ok()) {
      return Fail(status);
    }
    Json shown = Json::array();
    for (auto& copy : all) {
      if (s->site.empty() || copy["site"] == s->site) shown.push_back(copy);
    }
    std::sort(shown.begin(), shown.end(), [](const Json& a, const Json& b) {
      return std::tie(a["site"], a["node"]) < std::tie(b["site"], b["node"]);
    });
    if (g->json) return PrintJson(shown);
    std::printf("%-24s %-16s %6s %-9s %6s %8s %9s  %s\n", "SITE", "NODE", "PORT", "STATE", "LOAD",
                "CPU", "UPTIME", "VERSION / WHY NOT SERVING");
    for (const auto& copy : shown) {
      std::string note = copy.value("version", "").substr(0, 12);
      if (copy.contains("why")) note += "  " + copy["why"].get<std::string>();
      std::printf("%-24s %-16s %6u %-9s %6.2f %7.1fs %8.0fs  %s\n",
                  copy["site"].get<std::string>().c_str(), copy["node"].get<std::string>().c_str(),
                  copy["port"].get<unsigned>(), copy["state"].get<std::string>().c_str(),
                  copy["load1"].get<double>(), copy.value("cpu_s", 0.0),
                  copy["uptime_s"].get<double>(), note.c_str());
    }
    return 0;
  });

  auto* logs = app.add_subcommand(
      "logs", "The end of a site's copies' output (stdout and stderr), from every live node");
  logs->add_option("site", s->site, "Site name")->required();
  logs->add_option("--node", s->node, "Only the copies on this node");
  logs->add_option("--lines,-n", s->lines, "Lines from each copy (default 100)")
      ->check(CLI::Range(1, 10000));
  logs->add_flag("--follow,-f", s->follow, "Keep printing what the copies write (Ctrl-C ends)");
  AddJsonFlag(logs, g);
  OnRun(logs, exit_code, [g, s]() -> int {
    if (Status valid = sites::ValidateName(s->site); !valid.ok()) return Fail(valid);
    std::map<std::string, uint64_t> positions;  // copy → where its log was read up to
    for (bool first = true;; first = false) {
      std::string path = "/v1/logs/" + s->site + "?lines=" + std::to_string(s->lines);
      std::string after;
      for (const auto& [copy, end] : positions) {
        after += (after.empty() ? "" : ",") + copy + ":" + std::to_string(end);
      }
      if (!after.empty()) path += "&after=" + after;
      Json all = Json::array();
      if (Status status = Gather(*g, path, "copies", &all, nullptr); !status.ok()) {
        return Fail(status);
      }
      std::map<std::string, uint64_t> now;  // copies gone since are forgotten
      Json shown = Json::array();
      for (auto& copy : all) {
        now[copy["copy"]] = copy.value("end", uint64_t{0});
        if (s->node.empty() || copy["node"] == s->node) shown.push_back(copy);
      }
      positions = std::move(now);
      if (g->json && !s->follow) return PrintJson(shown);
      if (first && shown.empty()) {
        std::printf("(no copy of %s%s runs%s)\n", s->site.c_str(),
                    s->node.empty() ? "" : (" on " + s->node).c_str(),
                    s->follow ? " yet: waiting" : "");
      }
      for (const auto& copy : shown) {
        if (g->json) {  // one object a line: follows stream
          if (!copy["lines"].empty()) std::printf("%s\n", copy.dump().c_str());
          continue;
        }
        const std::string from =
            copy["node"].get<std::string>() + " " + copy["copy"].get<std::string>();
        if (copy.value("restarted", false)) {
          std::printf("%s | (the log was rotated; lines may be missing)\n", from.c_str());
        }
        if (copy.contains("skipped_bytes")) {
          std::printf("%s | (%s skipped)\n", from.c_str(),
                      Bytes(copy["skipped_bytes"].get<double>()).c_str());
        }
        for (const auto& line : copy["lines"]) {
          std::printf("%s | %s\n", from.c_str(), line.get<std::string>().c_str());
        }
      }
      std::fflush(stdout);
      if (!s->follow) return 0;
      std::this_thread::sleep_for(std::chrono::seconds(1));  // polling the nodes' APIs
    }
  });

  auto* events = app.add_subcommand("events", "The rules' recent decisions, from every live node");
  events->add_flag("--follow,-f", s->follow, "Keep printing new events (Ctrl-C ends)");
  events->add_option("--kind", s->kind, "Only events of this kind (e.g. site.scale, copy.serving)");
  events->add_option("--site", s->site, "Only this site's events");
  AddJsonFlag(events, g);
  OnRun(events, exit_code, [g, s]() -> int {
    std::map<std::string, uint64_t> seen;
    for (;;) {
      Json all = Json::array();
      if (Status status = Gather(*g, "/v1/events", "events", &all, &seen); !status.ok()) {
        return Fail(status);
      }
      std::sort(all.begin(), all.end(),
                [](const Json& a, const Json& b) { return a["at_ms"] < b["at_ms"]; });
      for (const auto& event : all) {
        if (!s->kind.empty() && event.value("kind", "") != s->kind) continue;
        if (!s->site.empty() && event.value("site", "") != s->site) continue;
        if (g->json) {
          std::printf("%s\n", event.dump().c_str());  // one object a line: follows stream
          continue;
        }
        const auto at = std::chrono::system_clock::time_point(
            std::chrono::milliseconds(event["at_ms"].get<int64_t>()));
        std::printf(
            "%s  %-16s %s\n",
            fmt::format("{:%F %T}", fmt::gmtime(std::chrono::system_clock::to_time_t(at))).c_str(),
            event["node"].get<std::string>().c_str(), event["text"].get<std::string>().c_str());
      }
      std::fflush(stdout);
      if (!s->follow) return 0;
      std::this_thread::sleep_for(std::chrono::seconds(1));  // polling the nodes' APIs
    }
  });
}

}  // namespace starling::cli
