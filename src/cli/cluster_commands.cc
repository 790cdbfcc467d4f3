// The cluster: `members`, `join`, `leave`, `event`, `keys`, `node drain|undrain`, `log status`.
#include <fmt/format.h>

#include <memory>

#include "src/cli/commands.h"

namespace starling::cli {
namespace {

int PrintMembers(const Json& answer) {
  std::printf("%-20s %-22s %-8s %5s %-9s %6s\n", "NAME", "ADDRESS", "STATUS", "INC", "ROLE",
              "LOAD");
  for (const auto& member : answer["members"]) {
    std::string load = "-";
    if (!member["load"].is_null()) {
      load = fmt::format("{:.2f}", member["load"]["load1"].get<double>());
    }
    std::printf("%-20s %-22s %-8s %5u %-9s %6s\n", member["name"].get<std::string>().c_str(),
                member["address"].get<std::string>().c_str(),
                member["status"].get<std::string>().c_str(), member["incarnation"].get<unsigned>(),
                member["role"].get<std::string>().c_str(), load.c_str());
  }
  return 0;
}

int PrintLogStatus(const Json& status) {
  std::printf("origin   %s\n", status["origin"].get<std::string>().c_str());
  std::printf("on disk  %.1f MiB\n", status["size_on_disk_bytes"].get<double>() / (1 << 20));
  std::printf("\n%-40s %10s %10s\n", "ORIGIN", "HEAD", "FLOOR");
  for (const auto& [origin, head] : status["heads"].items()) {
    const uint64_t floor = status["floors"].value(origin, uint64_t{0});
    std::printf("%-40s %10llu %10llu\n", origin.c_str(),
                static_cast<unsigned long long>(head.get<uint64_t>()),
                static_cast<unsigned long long>(floor));
  }
  std::printf("\n%-24s %s\n", "PEER", "LAG (entries it lacks)");
  for (const auto& peer : status["peers"]) {
    std::printf("%-24s %s\n", peer["name"].get<std::string>().c_str(),
                peer["lag"].is_null() ? "unknown yet" : peer["lag"].dump().c_str());
  }
  return 0;
}

int PrintKeys(const Json& answer) {
  std::printf("%-18s %s\n", "FINGERPRINT", "PRIMARY");
  for (const auto& key : answer["keys"]) {
    std::printf("%-18s %s\n", key["fingerprint"].get<std::string>().c_str(),
                key.value("primary", false) ? "yes" : "");
  }
  return 0;
}

struct State {
  std::vector<std::string> join_addresses;
  std::string event_name, event_payload, key_text, node_name;
  WriteFlags write;
};

}  // namespace

void AddClusterCommands(CLI::App& app, Globals* g, int* exit_code) {
  auto s = std::make_shared<State>();

  auto* members = app.add_subcommand("members", "List the cluster's members");
  AddJsonFlag(members, g);
  OnRun(members, exit_code, [g]() -> int {
    auto answer = Call(g->api, "GET", "/v1/members");
    if (!answer.ok()) return Fail(answer.status());
    return g->json ? PrintJson(*answer) : PrintMembers(*answer);
  });

  auto* join = app.add_subcommand("join", "Join the cluster through other nodes");
  join->add_option("addresses", s->join_addresses, "host:port of nodes to join")->required();
  AddJsonFlag(join, g);
  OnRun(join, exit_code, [g, s]() -> int {
    auto answer = Call(g->api, "POST", "/v1/join", {{"addresses", s->join_addresses}});
    if (!answer.ok()) return Fail(answer.status());
    if (g->json) return PrintJson(*answer);
    std::printf("joining through %zu address(es)\n", (*answer)["joining"].size());
    return 0;
  });

  auto* leave = app.add_subcommand("leave", "Leave the cluster gracefully and stop the agent");
  AddJsonFlag(leave, g);
  OnRun(leave, exit_code, [g]() -> int {
    auto answer = Call(g->api, "POST", "/v1/leave");
    if (!answer.ok()) return Fail(answer.status());
    if (g->json) return PrintJson(*answer);
    std::printf("%s is leaving the cluster\n", (*answer)["leaving"].get<std::string>().c_str());
    return 0;
  });

  auto* event = app.add_subcommand("event", "Send an event to every node");
  event->add_option("name", s->event_name, "Event name")->required();
  event->add_option("payload", s->event_payload, "Event payload (at most 1 KiB)");
  AddJsonFlag(event, g);
  OnRun(event, exit_code, [g, s]() -> int {
    auto answer =
        Call(g->api, "POST", "/v1/event", {{"name", s->event_name}, {"payload", s->event_payload}});
    if (!answer.ok()) return Fail(answer.status());
    if (g->json) return PrintJson(*answer);
    std::printf("event %s sent\n", s->event_name.c_str());
    return 0;
  });

  auto* keys = app.add_subcommand("keys", "Manage this node's keyring (rotate keys)");
  keys->require_subcommand(1);
  auto* keys_list = keys->add_subcommand("list", "List key fingerprints, primary first");
  AddJsonFlag(keys_list, g);
  OnRun(keys_list, exit_code, [g]() -> int {
    auto answer = Call(g->api, "GET", "/v1/keyring");
    if (!answer.ok()) return Fail(answer.status());
    return g->json ? PrintJson(*answer) : PrintKeys(*answer);
  });
  for (const char* action : {"install", "use", "remove"}) {
    auto* command = keys->add_subcommand(action, std::string(action) + " a key");
    command->add_option("key", s->key_text, "base64 key")->required();
    AddJsonFlag(command, g);
    OnRun(command, exit_code, [g, s, action = std::string(action)]() -> int {
      auto answer = Call(g->api, "POST", "/v1/keyring/" + action, {{"key", s->key_text}});
      if (!answer.ok()) return Fail(answer.status());
      return g->json ? PrintJson(*answer) : PrintKeys(*answer);
    });
  }

  auto* node = app.add_subcommand("node", "Node maintenance");
  node->require_subcommand(1);
  for (const bool drain : {true, false}) {
    auto* command =
        drain
            ? node->add_subcommand("drain",
                                   "Move a node's copies to other nodes and place none there "
                                   "(before maintenance)")
            : node->add_subcommand("undrain", "Let the rules place copies on a drained node again");
    command->add_option("name", s->node_name, "Node name")->required();
    AddWriteFlags(command, &s->write);
    AddJsonFlag(command, g);
    OnRun(command, exit_code, [g, s, drain]() -> int {
      auto answer =
          Call(g->api, drain ? "PUT" : "DELETE", "/v1/drain/" + s->node_name + s->write.Query(),
               nullptr, s->write.WaitSeconds());
      if (!answer.ok()) return Fail(answer.status());
      if (g->json) return PrintJson(*answer);
      std::printf(drain ? "%s is draining: its copies move to other workers, none are placed "
                          "there\n"
                        : "%s takes copies again\n",
                  s->node_name.c_str());
      return 0;
    });
  }

  auto* log = app.add_subcommand("log", "The replicated state log");
  log->require_subcommand(1);
  auto* log_status = log->add_subcommand("status", "Heads per origin, lag per peer, size");
  AddJsonFlag(log_status, g);
  OnRun(log_status, exit_code, [g]() -> int {
    auto answer = Call(g->api, "GET", "/v1/log/status");
    if (!answer.ok()) return Fail(answer.status());
    return g->json ? PrintJson(*answer) : PrintLogStatus(*answer);
  });
}

}  // namespace starling::cli
