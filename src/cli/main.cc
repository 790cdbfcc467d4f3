// starling — the node (`starling agent`) and the cluster-query CLI, a client of the local API.
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <httplib.h>
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <wordexp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

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
                             : method == "PUT"    ? client.Put(path, text, "application/json")
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

std::string Bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[unit]);
}

void PrintVersions(const json& versions) {
  std::printf("%-20s %-14s %-3s %8s %10s %8s %-10s %s\n", "SITE", "VERSION", "CUR", "FILES", "SIZE",
              "CHUNKS", "HERE", "COMMAND");
  for (const auto& v : versions) {
    std::string command;
    for (const auto& arg : v["command"])
      command += (command.empty() ? "" : " ") + arg.get<std::string>();
    const std::string here = v.contains("here") ? v["here"]["phase"].get<std::string>() : "-";
    std::printf(
        "%-20s %-14s %-3s %8llu %10s %8llu %-10s %s\n", v["site"].get<std::string>().c_str(),
        v["version"].get<std::string>().substr(0, 12).c_str(), v.value("current", false) ? "*" : "",
        static_cast<unsigned long long>(v["files"].get<uint64_t>()),
        Bytes(v["bytes"].get<double>()).c_str(),
        static_cast<unsigned long long>(v["chunks"].get<uint64_t>()), here.c_str(),
        command.c_str());
  }
}

// One line per version: nodes complete, and each node's chunks held.
std::string StatusLine(const json& version) {
  uint64_t held = 0, of = 0;
  for (const auto& [name, node] : version["nodes"].items()) {
    held += node.value("held", uint64_t{0});
    of += node.value("of", uint64_t{0});
  }
  const double fraction = of == 0 ? 0 : static_cast<double>(held) / static_cast<double>(of);
  return fmt::format("{} {}/{} live nodes hold it, {:.0f}% of chunks placed",
                     version["version"].get<std::string>().substr(0, 12),
                     version["complete_live_nodes"].get<size_t>(),
                     version["live_nodes"].get<size_t>(), 100 * fraction);
}

void PrintStatus(const json& status) {
  for (const auto& version : status["versions"]) {
    std::printf("%s\n", StatusLine(version).c_str());
    std::printf("  %-24s %10s %10s %-9s %s\n", "NODE", "HELD", "OF", "COMPLETE", "MATERIALIZED");
    for (const auto& [name, node] : version["nodes"].items()) {
      std::printf(
          "  %-24s %10llu %10llu %-9s %s%s\n", name.c_str(),
          static_cast<unsigned long long>(node.value("held", uint64_t{0})),
          static_cast<unsigned long long>(node.value("of", uint64_t{0})),
          node.value("complete", false) ? "yes" : "no",
          node.value("materialized", false) ? "yes" : "no",
          node.contains("error") ? ("  error: " + node["error"].get<std::string>()).c_str() : "");
    }
  }
}

// Polls the site's status until `version` is held by every live node (or `wait_s` passes),
// drawing a bar on a terminal; piped output gets the final line only.
int WaitForSpread(const std::string& api, const std::string& site, const std::string& version,
                  int wait_s) {
  const bool tty = ::isatty(STDOUT_FILENO) != 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
  std::string line;
  for (;;) {
    auto status = Call(api, "GET", "/v1/images/" + site + "/status");
    if (!status.ok()) return Fail(status.status().message());
    const json* mine = nullptr;
    for (const auto& v : (*status)["versions"]) {
      if (v["version"] == version) mine = &v;
    }
    if (mine == nullptr) return Fail("version " + version + " is no longer listed");
    line = StatusLine(*mine);
    const size_t done = (*mine)["complete_live_nodes"], all = (*mine)["live_nodes"];
    if (tty) {
      const int width = 30;
      const int filled = all == 0 ? width : static_cast<int>(width * done / all);
      std::printf("\r[%s%s] %s", std::string(filled, '#').c_str(),
                  std::string(width - filled, ' ').c_str(), line.c_str());
      std::fflush(stdout);
    }
    if (done >= all) break;
    if (std::chrono::steady_clock::now() > deadline) {
      if (tty) std::printf("\n");
      return Fail("not every live node holds the version after " + std::to_string(wait_s) + " s (" +
                  line + "); see `starling image status " + site + "`");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::printf(tty ? "\n" : "%s\n", line.c_str());
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

  auto* copies_cmd = app.add_subcommand("copies", "List the copies of sites, on every live node");
  std::string copies_site;
  copies_cmd->add_option("--site", copies_site, "Only this site's copies");
  copies_cmd->add_flag("--json", as_json, "Print JSON");
  auto* events_cmd =
      app.add_subcommand("events", "The rules' recent decisions, from every live node");
  bool follow = false;
  events_cmd->add_flag("--follow,-f", follow, "Keep printing new events (Ctrl-C ends)");
  events_cmd->add_flag("--json", as_json, "Print JSON");

  auto* balancers_cmd = app.add_subcommand(
      "balancers", "Each live balancer: generation applied, reloads, sites and their peers");
  balancers_cmd->add_flag("--json", as_json, "Print JSON");
  auto* upstreams_cmd = app.add_subcommand(
      "upstreams", "A site's upstream peers, as each live balancer applied them");
  std::string upstreams_site;
  upstreams_cmd->add_option("site", upstreams_site, "Site name")->required();
  upstreams_cmd->add_flag("--json", as_json, "Print JSON");

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
  unsigned min_copies = 1, max_copies = 8, timeout_ms = 5000, memory_mb = 512, pids = 256;
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
    cmd->add_option("--memory-mb", memory_mb, "Each copy's memory limit (MB)");
    cmd->add_option("--pids", pids, "Each copy's limit on processes and threads");
  };
  auto* site_create = site_cmd->add_subcommand("create", "Create a site");
  site_create->add_option("name", site_name, "Site name")->required();
  add_site_fields(site_create);
  add_write_options(site_create);
  auto* site_update = site_cmd->add_subcommand("update", "Change a site's fields");
  site_update->add_option("name", site_name, "Site name")->required();
  add_site_fields(site_update);
  add_write_options(site_update);
  auto* site_scale =
      site_cmd->add_subcommand("scale", "Set a site's fewest and most copies (--min, --max)");
  site_scale->add_option("name", site_name, "Site name")->required();
  site_scale->add_option("--min", min_copies, "Fewest copies");
  site_scale->add_option("--max", max_copies, "Most copies");
  add_write_options(site_scale);
  auto* site_delete = site_cmd->add_subcommand("delete", "Delete a site");
  site_delete->add_option("name", site_name, "Site name")->required();
  add_write_options(site_delete);
  auto* site_list = site_cmd->add_subcommand("list", "List sites");
  site_list->add_flag("--json", as_json, "Print JSON");
  auto* site_show = site_cmd->add_subcommand("show", "Show one site");
  site_show->add_option("name", site_name, "Site name")->required();
  site_show->add_flag("--json", as_json, "Print JSON");

  auto* node_cmd = app.add_subcommand("node", "Node maintenance");
  node_cmd->require_subcommand(1);
  std::string node_name;
  auto* node_drain = node_cmd->add_subcommand(
      "drain", "Move a node's copies to other nodes and place none there (before maintenance)");
  node_drain->add_option("name", node_name, "Node name")->required();
  add_write_options(node_drain);
  auto* node_undrain =
      node_cmd->add_subcommand("undrain", "Let the rules place copies on a drained node again");
  node_undrain->add_option("name", node_name, "Node name")->required();
  add_write_options(node_undrain);

  auto* log_cmd = app.add_subcommand("log", "The replicated state log");
  log_cmd->require_subcommand(1);
  auto* log_status = log_cmd->add_subcommand("status", "Heads per origin, lag per peer, size");
  log_status->add_flag("--json", as_json, "Print JSON");

  auto* image_cmd = app.add_subcommand("image", "Site images: push, list, spread, remove");
  image_cmd->require_subcommand(1);
  std::string image_path, image_command, image_version;
  std::vector<std::string> image_env;
  bool allow_setuid = false, no_wait = false, watch = false;
  int spread_wait_s = 600;
  auto* image_push = image_cmd->add_subcommand("push",
                                               "Import a directory or tar archive as the "
                                               "site's new version and spread it");
  image_push->add_option("site", site_name, "Site name")->required();
  image_push->add_option("path", image_path, "Directory or tar archive (plain, gz, xz, zst, bz2)")
      ->required();
  image_push->add_option("--command", image_command,
                         "Start command, split into words as a shell would (quotes work, nothing "
                         "is run): e.g. \"php -S 0.0.0.0:8080\"");
  image_push->add_option("--env", image_env, "NAME=VALUE for the start command (repeat)");
  image_push->add_flag("--allow-setuid", allow_setuid, "Accept setuid/setgid files");
  image_push->add_flag("--no-wait", no_wait, "Return once imported, before it spreads");
  image_push->add_option("--wait-s", spread_wait_s,
                         "Give up waiting for every node after (default 600)");
  add_write_options(image_push);
  auto* image_ls = image_cmd->add_subcommand("ls", "List image versions (newest first)");
  image_ls->add_option("site", site_name, "Only this site");
  image_ls->add_flag("--json", as_json, "Print JSON");
  auto* image_show = image_cmd->add_subcommand("show", "Show a site's versions in full");
  image_show->add_option("site", site_name, "Site name")->required();
  image_show->add_option("version", image_version, "Only this version (a prefix will do)");
  auto* image_status = image_cmd->add_subcommand("status", "Which nodes hold which version");
  image_status->add_option("site", site_name, "Site name")->required();
  image_status->add_flag("--json", as_json, "Print JSON");
  image_status->add_flag("--watch", watch, "Follow the newest version until every node holds it");
  auto* image_rm = image_cmd->add_subcommand("rm", "Remove a version, or every version of a site");
  image_rm->add_option("site", site_name, "Site name")->required();
  image_rm->add_option("version", image_version, "The version (64 hex digits); all if omitted");
  add_write_options(image_rm);
  image_cmd->add_subcommand("verify", "Re-verify every stored chunk on this node now");

  CLI11_PARSE(app, argc, argv);

  if (image_cmd->parsed()) {
    const std::string query = fmt::format("?ack={}&timeout_ms={}", ack, timeout_ms);
    if (image_push->parsed()) {
      std::error_code ec;
      const auto absolute = std::filesystem::absolute(image_path, ec);
      if (ec) return Fail("cannot resolve " + image_path + ": " + ec.message());
      json body = {{"path", absolute.string()}};
      if (!image_command.empty()) {
        // Split as a shell would (quotes, escapes), by libc's wordexp(3); command substitution
        // is refused. `$PORT` in single quotes reaches the copy as it is.
        wordexp_t words{};
        const int error = ::wordexp(image_command.c_str(), &words, WRDE_NOCMD);
        if (error != 0) {
          if (error == WRDE_NOSPACE) ::wordfree(&words);
          return Fail("--command: cannot split '" + image_command +
                      "' into words (unbalanced quotes, $(...) or a character such as | ; & < >)");
        }
        json argv_json = json::array();
        for (size_t i = 0; i < words.we_wordc; ++i) argv_json.push_back(words.we_wordv[i]);
        ::wordfree(&words);
        body["command"] = argv_json;
      }
      if (!image_env.empty()) {
        json env = json::object();
        for (const auto& pair : image_env) {
          const auto eq = pair.find('=');
          if (eq == std::string::npos || eq == 0) return Fail("--env takes NAME=VALUE");
          env[pair.substr(0, eq)] = pair.substr(eq + 1);
        }
        body["env"] = env;
      }
      if (allow_setuid) body["allow_setuid"] = true;
      if (::isatty(STDOUT_FILENO)) std::printf("importing %s ...\n", absolute.c_str());
      auto result = Call(api, "POST", "/v1/images/" + site_name + query, body, 3600);
      if (!result.ok()) return Fail(result.status().message());
      const json& r = *result;
      std::printf("%s version %s: %llu files, %s (%s read, %llu new chunks, %s), %.2f s\n",
                  site_name.c_str(), r["version"].get<std::string>().c_str(),
                  static_cast<unsigned long long>(r["files"].get<uint64_t>()),
                  Bytes(r["bytes"].get<double>()).c_str(),
                  Bytes(r["bytes_read"].get<double>()).c_str(),
                  static_cast<unsigned long long>(r["new_chunks"].get<uint64_t>()),
                  Bytes(r["new_chunk_bytes"].get<double>()).c_str(), r["seconds"].get<double>());
      if (no_wait) return 0;
      return WaitForSpread(api, site_name, r["version"], spread_wait_s);
    }
    Result<json> result = Status::InvalidArgument("unknown image command");
    if (image_ls->parsed()) {
      result = Call(api, "GET", site_name.empty() ? "/v1/images" : "/v1/images/" + site_name);
      if (result.ok() && !as_json) {
        PrintVersions((*result)["versions"]);
        return 0;
      }
    } else if (image_show->parsed()) {
      result = Call(api, "GET", "/v1/images/" + site_name);
      if (result.ok() && !image_version.empty()) {
        json versions = json::array();
        for (const auto& v : (*result)["versions"]) {
          if (v["version"].get<std::string>().starts_with(image_version)) versions.push_back(v);
        }
        if (versions.empty()) return Fail("no version " + image_version + " of " + site_name);
        result = json{{"versions", versions}};
      }
    } else if (image_status->parsed()) {
      if (watch) {
        auto list = Call(api, "GET", "/v1/images/" + site_name);
        if (!list.ok()) return Fail(list.status().message());
        if ((*list)["versions"].empty()) return Fail("site '" + site_name + "' has no image");
        return WaitForSpread(api, site_name, (*list)["versions"][0]["version"], spread_wait_s);
      }
      result = Call(api, "GET", "/v1/images/" + site_name + "/status");
      if (result.ok() && !as_json) {
        PrintStatus(*result);
        return 0;
      }
    } else if (image_rm->parsed()) {
      const std::string path =
          "/v1/images/" + site_name + (image_version.empty() ? "" : "/" + image_version);
      result = Call(api, "DELETE", path + query, nullptr, static_cast<int>(timeout_ms / 1000) + 5);
    } else {
      result = Call(api, "POST", "/v1/images-verify");
    }
    if (!result.ok()) return Fail(result.status().message());
    std::printf("%s\n", result->dump(2).c_str());
    return 0;
  }

  if (agent_cmd->parsed()) {
    auto config = starling::agent::LoadConfig(config_path);
    if (!config.ok()) return Fail(config.status().message());
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%f %^%l%$ [" + config->node_name + "] %v");
    spdlog::set_level(spdlog::level::from_str(config->log_level));
    spdlog::flush_on(spdlog::level::trace);  // a killed agent leaves its last words in the log
    // Chunk transfers allocate and free buffers of megabytes all the time: keep those in the
    // heap rather than in fresh mmap'ed memory, zero-filled and page-faulted on every use.
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    auto agent = starling::agent::Agent::Create(std::move(*config));
    if (!agent.ok()) return Fail(agent.status().ToString());
    return (*agent)->Run();
  }
  if (keygen_cmd->parsed()) {
    std::printf("%s\n",
                starling::net::Keyring::EncodeKey(starling::net::Keyring::Generate()).c_str());
    return 0;
  }
  if (balancers_cmd->parsed() || upstreams_cmd->parsed()) {
    auto members = Call(api, "GET", "/v1/members");
    if (!members.ok()) return Fail(members.status().message());
    json all = json::array();
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
    if (upstreams_cmd->parsed()) {
      json out = json::array();
      for (const auto& state : all) {
        const json peers = state["sites"].value(upstreams_site, json::array());
        out.push_back({{"balancer", state["node"]},
                       {"generation", state["applied_generation"]},
                       {"peers", peers}});
      }
      if (as_json) {
        std::printf("%s\n", out.dump(2).c_str());
        return 0;
      }
      std::printf("%-16s %10s  %s\n", "BALANCER", "GENERATION", "PEERS");
      for (const auto& row : out) {
        std::string peers;
        for (const auto& peer : row["peers"]) peers += peer.get<std::string>() + " ";
        std::printf("%-16s %10llu  %s\n", row["balancer"].get<std::string>().c_str(),
                    static_cast<unsigned long long>(row["generation"].get<uint64_t>()),
                    peers.empty() ? "(none serving)" : peers.c_str());
      }
      return 0;
    }
    if (as_json) {
      std::printf("%s\n", all.dump(2).c_str());
      return 0;
    }
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
  if (copies_cmd->parsed() || events_cmd->parsed()) {
    auto members = Call(api, "GET", "/v1/members");
    if (!members.ok()) return Fail(members.status().message());
    // Every live member's own API answers for its copies and its decisions.
    auto gather = [&](const std::string& path, json* all, std::map<std::string, uint64_t>* seen) {
      for (const auto& member : (*members)["members"]) {
        if (member["status"] != "alive" || !member.contains("api")) continue;
        const std::string name = member["name"].get<std::string>();
        std::string query = path;
        if (seen != nullptr) query += "?after=" + std::to_string((*seen)[name]);
        auto answer = Call(member["api"].get<std::string>(), "GET", query);
        if (!answer.ok()) {
          std::fprintf(stderr, "starling: %s: %s\n", name.c_str(),
                       answer.status().message().c_str());
          continue;
        }
        const char* field = seen != nullptr ? "events" : "copies";
        if (!answer->contains(field) || !(*answer)[field].is_array()) continue;
        for (auto& item : (*answer)[field]) {
          if (seen != nullptr) (*seen)[name] = std::max((*seen)[name], item["seq"].get<uint64_t>());
          all->push_back(std::move(item));
        }
      }
    };
    if (copies_cmd->parsed()) {
      json all = json::array();
      gather("/v1/copies", &all, nullptr);
      json shown = json::array();
      for (auto& copy : all) {
        if (copies_site.empty() || copy["site"] == copies_site) shown.push_back(copy);
      }
      std::sort(shown.begin(), shown.end(), [](const json& a, const json& b) {
        return std::tie(a["site"], a["node"]) < std::tie(b["site"], b["node"]);
      });
      if (as_json) {
        std::printf("%s\n", shown.dump(2).c_str());
        return 0;
      }
      std::printf("%-24s %-16s %6s %-9s %6s %8s %9s\n", "SITE", "NODE", "PORT", "STATE", "LOAD",
                  "CPU", "UPTIME");
      for (const auto& copy : shown) {
        std::printf("%-24s %-16s %6u %-9s %6.2f %7.1fs %8.0fs\n",
                    copy["site"].get<std::string>().c_str(),
                    copy["node"].get<std::string>().c_str(), copy["port"].get<unsigned>(),
                    copy["state"].get<std::string>().c_str(), copy["load1"].get<double>(),
                    copy.value("cpu_s", 0.0), copy["uptime_s"].get<double>());
      }
      return 0;
    }
    std::map<std::string, uint64_t> seen;
    for (;;) {
      json events = json::array();
      gather("/v1/events", &events, &seen);
      std::sort(events.begin(), events.end(),
                [](const json& a, const json& b) { return a["at_ms"] < b["at_ms"]; });
      for (const auto& event : events) {
        if (as_json) {
          std::printf("%s\n", event.dump().c_str());
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
      if (!follow) return 0;
      std::this_thread::sleep_for(std::chrono::seconds(1));  // polling the nodes' APIs
    }
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
      CLI::App* cmd = create ? site_create : site_scale->parsed() ? site_scale : site_update;
      if (cmd == site_scale && cmd->count("--min") + cmd->count("--max") == 0) {
        return Fail("site scale needs --min, --max or both");
      }
      json body = json::object();
      if (create) body["name"] = site_name;
      if (cmd->count("--min") > 0) body["min"] = min_copies;
      if (cmd->count("--max") > 0) body["max"] = max_copies;
      if (cmd != site_scale) {  // scale has only --min and --max
        if (cmd->count("--domain") > 0) body["domains"] = domains;
        if (cmd->count("--up") > 0) body["up"] = up;
        if (cmd->count("--down") > 0) body["down"] = down;
        if (cmd->count("--memory-mb") > 0) body["memory_mb"] = memory_mb;
        if (cmd->count("--pids") > 0) body["pids"] = pids;
      }
      result = create ? Call(api, "POST", "/v1/sites" + query, body, wait_s)
                      : Call(api, "PATCH", "/v1/sites/" + site_name + query, body, wait_s);
    }
    if (!result.ok()) return Fail(result.status().message());
    std::printf("%s\n", result->dump(2).c_str());
    return 0;
  }
  if (node_cmd->parsed()) {
    const std::string query = fmt::format("?ack={}&timeout_ms={}", ack, timeout_ms);
    const int wait_s = static_cast<int>(timeout_ms / 1000) + 5;
    auto result = Call(api, node_drain->parsed() ? "PUT" : "DELETE",
                       "/v1/drain/" + node_name + query, nullptr, wait_s);
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
