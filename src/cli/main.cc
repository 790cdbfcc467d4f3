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
                  const json& body = nullptr, int read_timeout_s = 5) {
  auto address = starling::agent::ParseHostPort(api, "--api");
  if (!address.ok()) return address.status();
  httplib::Client client(address->host, address->port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(read_timeout_s, 0);
  const std::string text = body.is_null() ? "{}" : body.dump();
  httplib::Result response = method == "GET"      ? client.Get(path)
                             : method == "PATCH"  ? client.Patch(path, text, "application/json")
                             : method == "DELETE" ? client.Delete(path)
                                                  : client.Post(path, text, "application/json");
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

void PrintSites(const json& sites) {
  std::printf("%-24s %-4s %-4s %-5s %-5s %s\n", "NAME", "MIN", "MAX", "UP", "DOWN", "DOMAINS");
  for (const auto& site : sites) {
    std::string domains;
    for (const auto& d : site["domains"])
      domains += (domains.empty() ? "" : ",") + d.get<std::string>();
    std::printf("%-24s %-4u %-4u %-5.2f %-5.2f %s\n", site["name"].get<std::string>().c_str(),
                site["min"].get<unsigned>(), site["max"].get<unsigned>(), site["up"].get<double>(),
                site["down"].get<double>(), domains.c_str());
  }
}

void PrintLogStatus(const json& status) {
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

  auto* site_cmd = app.add_subcommand("site", "Manage hosted sites (the replicated state log)");
  site_cmd->require_subcommand(1);
  std::string site_name, ack = "one";
  std::vector<std::string> domains;
  unsigned min_copies = 1, max_copies = 8, timeout_ms = 5000;
  double up = 2.0, down = 1.0;
  auto add_write_options = [&](CLI::App* cmd) {
    cmd->add_option("--ack", ack, "Acknowledge when: local, one (default), all-live")
        ->check(CLI::IsMember({"local", "one", "all-live"}));
    cmd->add_option("--timeout-ms", timeout_ms, "Give up waiting for the acknowledgement after");
  };
  auto add_site_fields = [&](CLI::App* cmd) {
    cmd->add_option("--domain", domains, "A domain the site answers (repeat for more)");
    cmd->add_option("--min", min_copies, "Fewest copies");
    cmd->add_option("--max", max_copies, "Most copies");
    cmd->add_option("--up", up, "Load average per copy that adds a copy");
    cmd->add_option("--down", down, "Load average per copy under which a copy is removed");
  };
  auto* site_create = site_cmd->add_subcommand("create", "Create a site");
  site_create->add_option("name", site_name, "Site name")->required();
  add_site_fields(site_create);
  add_write_options(site_create);
  auto* site_update = site_cmd->add_subcommand("update", "Change a site's fields");
  site_update->add_option("name", site_name, "Site name")->required();
  add_site_fields(site_update);
  add_write_options(site_update);
  auto* site_delete = site_cmd->add_subcommand("delete", "Delete a site");
  site_delete->add_option("name", site_name, "Site name")->required();
  add_write_options(site_delete);
  auto* site_list = site_cmd->add_subcommand("list", "List sites");
  site_list->add_flag("--json", as_json, "Print JSON");
  auto* site_show = site_cmd->add_subcommand("show", "Show one site");
  site_show->add_option("name", site_name, "Site name")->required();
  site_show->add_flag("--json", as_json, "Print JSON");

  auto* log_cmd = app.add_subcommand("log", "The replicated state log");
  log_cmd->require_subcommand(1);
  auto* log_status = log_cmd->add_subcommand("status", "Heads per origin, lag per peer, size");
  log_status->add_flag("--json", as_json, "Print JSON");

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
  if (site_cmd->parsed()) {
    const std::string query = fmt::format("?ack={}&timeout_ms={}", ack, timeout_ms);
    const int wait_s = static_cast<int>(timeout_ms / 1000) + 5;
    Result<json> result = Status::InvalidArgument("unknown site command");
    if (site_list->parsed()) {
      result = Call(api, "GET", "/v1/sites");
      if (result.ok() && !as_json) {
        PrintSites((*result)["sites"]);
        return 0;
      }
    } else if (site_show->parsed()) {
      result = Call(api, "GET", "/v1/sites/" + site_name);
    } else if (site_delete->parsed()) {
      result = Call(api, "DELETE", "/v1/sites/" + site_name + query, nullptr, wait_s);
    } else {
      // Only the fields given on the command line: an update changes just those.
      const bool create = site_create->parsed();
      CLI::App* cmd = create ? site_create : site_update;
      json body = json::object();
      if (create) body["name"] = site_name;
      if (cmd->count("--domain") > 0) body["domains"] = domains;
      if (cmd->count("--min") > 0) body["min"] = min_copies;
      if (cmd->count("--max") > 0) body["max"] = max_copies;
      if (cmd->count("--up") > 0) body["up"] = up;
      if (cmd->count("--down") > 0) body["down"] = down;
      result = create ? Call(api, "POST", "/v1/sites" + query, body, wait_s)
                      : Call(api, "PATCH", "/v1/sites/" + site_name + query, body, wait_s);
    }
    if (!result.ok()) return Fail(result.status().message());
    std::printf("%s\n", result->dump(2).c_str());
    return 0;
  }
  if (log_cmd->parsed()) {
    auto result = Call(api, "GET", "/v1/log/status");
    if (!result.ok()) return Fail(result.status().message());
    if (as_json) {
      std::printf("%s\n", result->dump(2).c_str());
    } else {
      PrintLogStatus(*result);
    }
    return 0;
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
