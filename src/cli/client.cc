#include "src/cli/client.h"

#include <fmt/format.h>
#include <httplib.h>

#include <cstdio>

#include "src/agent/api/server.h"
#include "src/agent/config.h"

namespace starling::cli {
Result<Json> Call(const std::string& api, const std::string& method, const std::string& path,
                  const Json& body, int read_timeout_s) {
  // The agent prints its API as a URL ("http://127.0.0.1:7070"): that form is taken as well.
  std::string_view where = api;
  if (where.starts_with("http://")) where.remove_prefix(7);
  if (!where.empty() && where.back() == '/') where.remove_suffix(1);
  auto address = agent::ParseHostPort(where, "--api");
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
                               "); is `starling agent` running, and is --api right?");
  }
  auto parsed = Json::parse(response->body, nullptr, false);
  if (response->status != 200) {
    const bool described =
        parsed.is_object() && parsed.contains("error") && parsed["error"].is_string();
    const std::string error = described ? parsed["error"].get<std::string>() : response->body;
    // Every error the agent gives names its kind; anything else (a proxy's page) is an I/O error.
    const StatusCode code = described && parsed.contains("kind") && parsed["kind"].is_string()
                                ? agent::api::KindCode(parsed["kind"].get<std::string>())
                                : StatusCode::kIoError;
    return Status(code == StatusCode::kOk ? StatusCode::kIoError : code,
                  fmt::format("{} (HTTP {})", error, response->status));
  }
  if (parsed.is_discarded()) return Status::Corruption("the agent answered with invalid JSON");
  return parsed;
}

int ExitCodeOf(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 0;
    case StatusCode::kInvalidArgument:
      return 2;
    case StatusCode::kNotFound:
      return 3;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
      return 4;
    case StatusCode::kUnavailable:
    case StatusCode::kResourceExhausted:
      return 5;
    case StatusCode::kTimeout:
      return 6;
    case StatusCode::kCorruption:
    case StatusCode::kIoError:
      return 1;
  }
  return 1;
}

int Fail(const Status& status) {
  std::fprintf(stderr, "starling: %s\n", status.message().c_str());
  return ExitCodeOf(status.code());
}

int PrintJson(const Json& value) {
  std::printf("%s\n", value.dump(2).c_str());
  return 0;
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

std::string WriteFlags::Query() const {
  return fmt::format("?ack={}&timeout_ms={}", ack, timeout_ms);
}

void AddWriteFlags(CLI::App* command, WriteFlags* flags) {
  command->add_option("--ack", flags->ack, "Acknowledge when: local, one (default), all-live")
      ->check(CLI::IsMember({"local", "one", "all-live"}));
  command->add_option("--timeout-ms", flags->timeout_ms,
                      "Give up waiting for the acknowledgement after");
}

void AddJsonFlag(CLI::App* command, Globals* globals) {
  command->add_flag("--json", globals->json, "Print JSON");
}

void OnRun(CLI::App* command, int* exit_code, std::function<int()> body) {
  command->callback([exit_code, body = std::move(body)] { *exit_code = body(); });
}

// Appends the `field` array of `path` on every live member to `all`. With `seen`, asks each for
// what came after the last sequence number seen from it, and remembers the newest.
Status Gather(const Globals& g, const std::string& path, const char* field, Json* all,
              std::map<std::string, uint64_t>* seen) {
  auto members = Call(g.api, "GET", "/v1/members");
  if (!members.ok()) return members.status();
  for (const auto& member : (*members)["members"]) {
    if (member["status"] != "alive" || !member.contains("api")) continue;
    const std::string name = member["name"].get<std::string>();
    std::string query = path;
    if (seen != nullptr) query += "?after=" + std::to_string((*seen)[name]);
    auto answer = Call(member["api"].get<std::string>(), "GET", query);
    if (!answer.ok()) {
      std::fprintf(stderr, "starling: %s: %s\n", name.c_str(), answer.status().message().c_str());
      continue;
    }
    if (!answer->contains(field) || !(*answer)[field].is_array()) continue;
    for (auto& item : (*answer)[field]) {
      if (seen != nullptr) (*seen)[name] = std::max((*seen)[name], item["seq"].get<uint64_t>());
      all->push_back(std::move(item));
    }
  }
  return Status::Ok();
}

}  // namespace starling::cli
