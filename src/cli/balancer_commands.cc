// The balancers: `balancers` (each live balancer's state) and `upstreams SITE` (a site's peers as
// each balancer applied them), gathered from every live balancer's own API.
#include <memory>

#include "src/cli/commands.h"

namespace starling::cli {
namespace {

// Every live balancer's /v1/balancer; one that does not answer is named on stderr.
Result<Json> Gather(const Globals& g) {
  auto members = Call(g.api, "GET", "/v1/members");
  if (!members.ok()) return members.status();
  Json all = Json::array();
  for (const auto& member : (*members)["members"]) {
    if (member["status"] != "alive" || member.value("role", "") == "worker" ||
        !member.contains("api")) {
      continue;
    }
    auto state = Call(member["api"].get<std::string>(), "GET", "/v1/balancer");
    if (!state.ok()) {
      std::fprintf(stderr, "starling: %s: %s\n", member["name"].get<std::string>().c_str(),
                   state.status().message().c_str());
      continue;
    }
    all.push_back(std::move(*state));
  }
  return all;
}

int PrintBalancers(const Json& all) {
  std::printf("%-16s %-22s %-6s %10s %8s %6s %6s %6s  %-16s %s\n", "BALANCER", "LISTEN", "MODE",
              "GENERATION", "APPLIED", "RELOAD", "SITES", "PEERS", "HEALTH", "SHARED ADDRESS");
  for (const auto& state : all) {
    size_t peers = 0;
    for (const auto& [site, list] : state["sites"].items()) peers += list.size();
    const std::string vip = state.value("vip", "");
    const std::string shared =
        vip.empty() ? "-" : vip + (state.value("holds_vip", false) ? " (active)" : " (standby)");
    std::printf("%-16s %-22s %-6s %10llu %8llu %6llu %6zu %6zu  %-16s %s\n",
                state["node"].get<std::string>().c_str(),
                state["listen"].get<std::string>().c_str(),
                state["mode"].get<std::string>().c_str(),
                static_cast<unsigned long long>(state["generation"].get<uint64_t>()),
                static_cast<unsigned long long>(state["applied_generation"].get<uint64_t>()),
                static_cast<unsigned long long>(state["reloads"].get<uint64_t>()),
                state["sites"].size(), peers, state.value("health", "?").c_str(), shared.c_str());
  }
  return 0;
}

}  // namespace

void AddBalancerCommands(CLI::App& app, Globals* g, int* exit_code) {
  auto* balancers = app.add_subcommand(
      "balancers", "Each live balancer: generation applied, reloads, sites and their peers");
  AddJsonFlag(balancers, g);
  OnRun(balancers, exit_code, [g]() -> int {
    auto all = Gather(*g);
    if (!all.ok()) return Fail(all.status());
    return g->json ? PrintJson(*all) : PrintBalancers(*all);
  });

  auto site = std::make_shared<std::string>();
  auto* upstreams = app.add_subcommand(
      "upstreams", "A site's upstream peers, as each live balancer applied them");
  upstreams->add_option("site", *site, "Site name")->required();
  AddJsonFlag(upstreams, g);
  OnRun(upstreams, exit_code, [g, site]() -> int {
    auto all = Gather(*g);
    if (!all.ok()) return Fail(all.status());
    Json out = Json::array();
    for (const auto& state : *all) {
      out.push_back({{"balancer", state["node"]},
                     {"generation", state["applied_generation"]},
                     {"peers", state["sites"].value(*site, Json::array())}});
    }
    if (g->json) return PrintJson(out);
    std::printf("%-16s %10s  %s\n", "BALANCER", "GENERATION", "PEERS");
    for (const auto& row : out) {
      std::string peers;
      for (const auto& peer : row["peers"]) peers += peer.get<std::string>() + " ";
      std::printf("%-16s %10llu  %s\n", row["balancer"].get<std::string>().c_str(),
                  static_cast<unsigned long long>(row["generation"].get<uint64_t>()),
                  peers.empty() ? "(none serving)" : peers.c_str());
    }
    return 0;
  });
}

}  // namespace starling::cli
