// starling — the node (`starling agent`) and the cluster-query CLI, a client of the local API.
#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "src/agent/agent.h"
#include "src/agent/config.h"
#include "src/net/sealer.h"

namespace {

using json = nlohmann::json;
using starling::Result;
using starling::Status;

int Fail(const std::string& message) {
  std::fprintf(stderr, "starling: %s\n", message.c_str());
  return 1;
}

// Calls the local agent's API. Returns the parsed body or the error the agent (or the socket) gave.
Result<json> Call(const std::string& api, const std::string& method, const std::string& path,
                  const json& body = nullptr) {
  auto address = starling::agent::ParseHostPort(api, "--api");
  if (!address.ok()) return address.status();
  httplib::Client client(address->host, address->port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  auto response = method == "GET"
                      ? client.Get(path)
                      : client.Post(path, body.is_null() ? "{}" : body.dump(), "application/json");
  if (!response) {
    return Status::Unavailable("no agent answers at " + api + " (" +
                               httplib::to_string(response.error()) +
                               "); is `starling agent` "
                               "running, and is --api right?");
  }
  auto parsed = json::parse(response->body, nullptr, false);
  if (response->status != 200) {
    const std::string error = !parsed.is_discarded() && parsed.contains("error")
                                  ? parsed["error"].get<std::string>()
                                  : response->body;
    return Status::InvalidArgument(fmt::format("{} (HTTP {})", error, response->status));
  }
  if (parsed.is_discarded()) return Status::Corruption("the agent answered with invalid JSON");
  return parsed;
}

int PrintMembers(const json& answer) {
  std::printf("%-20s %-22s %-8s %5s %-9s %6s\n", "NAME", "ADDRESS", "STATUS", "INC", "ROLE",
              "LOAD");
  for (const auto& member : answer["members"]) {
    std::string load = "-";
    if (!member["load"].is_null())
      load = fmt::format("{:.2f}", member["load"]["load1"].get<double>());
    std::printf("%-20s %-22s %-8s %5u %-9s %6s\n", member["name"].get<std::string>().c_str(),
                member["address"].get<std::string>().c_str(),
                member["status"].get<std::string>().c_str(), member["incarnation"].get<unsigned>(),
                member["role"].get<std::string>().c_str(), load.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Starling: cloud hosting on ordinary servers, with no central controller"};
  app.require_subcommand(1);
  const char* env_api = std::getenv("STARLING_API");
  std::string api = env_api != nullptr ? env_api : "127.0.0.1:7947";
  bool as_json = false;
  app.add_option("--api", api, "Address of the local agent's HTTP API (env STARLING_API)");

  auto* agent_cmd = app.add_subcommand("agent", "Run the node");
  std::string config_path;
  agent_cmd->add_option("--config,-c", config_path, "TOML configuration file")->required();

  auto* keygen_cmd = app.add_subcommand("keygen", "Print a new random cluster key (base64)");

  auto* members_cmd = app.add_subcommand("members", "List the cluster's members");
  members_cmd->add_flag("--json", as_json, "Print JSON");

  auto* join_cmd = app.add_subcommand("join", "Join the cluster through other nodes");
  std::vector<std::string> join_addresses;
  join_cmd->add_option("addresses", join_addresses, "host:port of nodes to join")->required();

  app.add_subcommand("leave", "Leave the cluster gracefully and stop the agent");

  auto* event_cmd = app.add_subcommand("event", "Send an event to every node");
  std::string event_name, event_payload;
  event_cmd->add_option("name", event_name, "Event name")->required();
  event_cmd->add_option("payload", event_payload, "Event payload (at most 1 KiB)");

  auto* keys_cmd = app.add_subcommand("keys", "Manage this node's keyring (rotate keys)");
  keys_cmd->require_subcommand(1);
  keys_cmd->add_subcommand("list", "List key fingerprints, primary first");
  std::string key_text;
  for (const char* action : {"install", "use", "remove"}) {
    keys_cmd->add_subcommand(action, std::string(action) + " a key")
        ->add_option("key", key_text, "base64 key")
        ->required();
  }

  CLI11_PARSE(app, argc, argv);

  if (agent_cmd->parsed()) {
    auto config = starling::agent::LoadConfig(config_path);
    if (!config.ok()) return Fail(config.status().message());
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%f %^%l%$ [" + config->node_name + "] %v");
    spdlog::set_level(spdlog::level::from_str(config->log_level));
    auto agent = starling::agent::Agent::Create(std::move(*config));
    if (!agent.ok()) return Fail(agent.status().ToString());
    return (*agent)->Run();
  }
  if (keygen_cmd->parsed()) {
    std::printf("%s\n",
                starling::net::Keyring::EncodeKey(starling::net::Keyring::Generate()).c_str());
    return 0;
  }
  if (members_cmd->parsed()) {
    auto answer = Call(api, "GET", "/v1/members");
    if (!answer.ok()) return Fail(answer.status().message());
    if (as_json) {
      std::printf("%s\n", answer->dump(2).c_str());
      return 0;
    }
    return PrintMembers(*answer);
  }
  Result<json> answer = Status::InvalidArgument("unknown command");
  if (join_cmd->parsed()) {
    answer = Call(api, "POST", "/v1/join", {{"addresses", join_addresses}});
  } else if (app.got_subcommand("leave")) {
    answer = Call(api, "POST", "/v1/leave");
  } else if (event_cmd->parsed()) {
    answer = Call(api, "POST", "/v1/event", {{"name", event_name}, {"payload", event_payload}});
  } else if (keys_cmd->parsed()) {
    auto* sub = keys_cmd->get_subcommands().front();
    if (sub->get_name() == "list") {
      answer = Call(api, "GET", "/v1/keyring");
    } else {
      answer = Call(api, "POST", "/v1/keyring/" + sub->get_name(), {{"key", key_text}});
    }
  }
  if (!answer.ok()) return Fail(answer.status().message());
  std::printf("%s\n", answer->dump(2).c_str());
  return 0;
}
