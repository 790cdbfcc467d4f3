// The HTTP API's contract, route by route: an agent in this process on loopback (no root, no
// other process), each route's success shape and its errors' status and kind. Every error
// crosses the boundary one way: {"error": "<message>", "kind": "<kind>"} (src/agent/api/server.h).
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "src/agent/agent.h"
#include "src/agent/config.h"
#include "src/net/sealer.h"
#include "tests/agent/local_agent.h"
#include "tests/integration/cluster.h"

namespace starling::agent {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

using starling::testing::FreePort;

using testing::LocalAgent;

// An error answer: its status, and the one error body with `kind`.
void CheckError(const std::pair<int, json>& answer, int status, const std::string& kind) {
  INFO(answer.second.dump());
  CHECK(answer.first == status);
  REQUIRE(answer.second.is_object());
  CHECK(answer.second["error"].is_string());
  CHECK_FALSE(answer.second["error"].get<std::string>().empty());
  CHECK(answer.second["kind"] == kind);
}

TEST_CASE("API: members, self, join, event, leave", "[api]") {
  LocalAgent agent;
  auto members = agent.Call("GET", "/v1/members");
  REQUIRE(members.first == 200);
  CHECK(members.second["self"] == "api-node");
  REQUIRE(members.second["members"].size() == 1);
  const json& me = members.second["members"][0];
  for (const char* field : {"name", "address", "status", "incarnation", "role", "capacity", "api",
                            "version", "status_age_s", "load"}) {
    CHECK(me.contains(field));
  }
  CHECK(me["status"] == "alive");
  auto self = agent.Call("GET", "/v1/self");
  REQUIRE(self.first == 200);
  CHECK(self.second["name"] == "api-node");
  CHECK(self.second["alive"] == 1);

  CheckError(agent.Call("POST", "/v1/join", R"({"addresses":[]})"), 400, "invalid_argument");
  CheckError(agent.Call("POST", "/v1/join", R"({"addresses":["nonsense"]})"), 400,
             "invalid_argument");
  CheckError(agent.Call("POST", "/v1/join", "not json"), 400, "invalid_argument");
  CheckError(agent.Call("POST", "/v1/event", R"({"name":"starling.x"})"), 400, "invalid_argument");
  auto sent = agent.Call("POST", "/v1/event", R"({"name":"deploy","payload":"v2"})");
  CHECK(sent.first == 200);
  CHECK(sent.second["sent"] == "deploy");
  CheckError(agent.Call("GET", "/v1/no-such-route"), 404, "not_found");

  auto left = agent.Call("POST", "/v1/leave");
  CHECK(left.first == 200);
  CHECK(left.second["leaving"] == "api-node");
  CHECK(agent.Join() == 0);
}

TEST_CASE("API: sites, their writes and their refusals", "[api]") {
  LocalAgent agent;
  auto empty = agent.Call("GET", "/v1/sites");
  REQUIRE(empty.first == 200);
  CHECK(empty.second["sites"] == json::array());

  auto created = agent.Call("POST", "/v1/sites?ack=local",
                            R"({"name":"shop","domains":["shop.example.com"],"max":4})");
  INFO(created.second.dump());
  REQUIRE(created.first == 200);
  CHECK(created.second["name"] == "shop");
  CHECK(created.second["max"] == 4);
  CHECK(created.second["written"]["seq"].is_number_unsigned());
  CHECK(created.second["written"]["origin"].get<std::string>().starts_with("api-node/"));

  CheckError(agent.Call("POST", "/v1/sites?ack=local", R"({"name":"shop"})"), 409,
             "already_exists");
  CheckError(agent.Call("POST", "/v1/sites?ack=local",
                        R"({"name":"other","domains":["shop.example.com"]})"),
             409, "already_exists");
  CheckError(agent.Call("POST", "/v1/sites", R"({"domains":["x.example.com"]})"), 400,
             "invalid_argument");
  CheckError(agent.Call("POST", "/v1/sites", R"({"name":"Bad Name"})"), 400, "invalid_argument");
  CheckError(agent.Call("POST", "/v1/sites", "[1,2]"), 400, "invalid_argument");
  CheckError(agent.Call("POST", "/v1/sites?ack=never", R"({"name":"x"})"), 400, "invalid_argument");
  CheckError(agent.Call("POST", "/v1/sites?timeout_ms=0", R"({"name":"x"})"), 400,
             "invalid_argument");
  CheckError(agent.Call("POST", "/v1/sites",
                        R"({"name":"x","domains":["x.example.com"],"min":5,"max":2})"),
             400, "invalid_argument");

  auto shown = agent.Call("GET", "/v1/sites/shop");
  REQUIRE(shown.first == 200);
  for (const char* field : {"name", "domains", "min", "max", "up", "down", "memory_mb", "pids",
                            "start_timeout_s", "max_body_mb", "surge"}) {
    CHECK(shown.second.contains(field));
  }
  CheckError(agent.Call("GET", "/v1/sites/nosuch"), 404, "not_found");
  CheckError(agent.Call("GET", "/v1/sites/BAD_NAME"), 400, "invalid_argument");

  auto patched = agent.Call("PATCH", "/v1/sites/shop?ack=local", R"({"min":2})");
  REQUIRE(patched.first == 200);
  CHECK(patched.second["min"] == 2);
  CHECK(patched.second["max"] == 4);  // unchanged
  CheckError(agent.Call("PATCH", "/v1/sites/nosuch", R"({"min":2})"), 404, "not_found");
  CheckError(agent.Call("PATCH", "/v1/sites/shop", R"({"colour":"red"})"), 400, "invalid_argument");

  auto listed = agent.Call("GET", "/v1/sites");
  REQUIRE(listed.second["sites"].size() == 1);
  auto deleted = agent.Call("DELETE", "/v1/sites/shop?ack=local");
  REQUIRE(deleted.first == 200);
  CHECK(deleted.second["deleted"] == "shop");
  CheckError(agent.Call("DELETE", "/v1/sites/shop?ack=local"), 404, "not_found");
  // A lone node cannot have a write held by another: the acknowledgement times out.
  CheckError(agent.Call("POST", "/v1/sites?ack=one&timeout_ms=200",
                        R"({"name":"lonely","domains":["lonely.example.com"]})"),
             504, "timeout");
}

TEST_CASE("API: node drains, the kv space and the state log", "[api]") {
  LocalAgent agent;
  auto drained = agent.Call("PUT", "/v1/drain/api-node?ack=local");
  REQUIRE(drained.first == 200);
  CHECK(drained.second["node"] == "api-node");
  CHECK(drained.second["draining"] == true);
  auto undrained = agent.Call("DELETE", "/v1/drain/api-node?ack=local");
  REQUIRE(undrained.first == 200);
  CHECK(undrained.second["draining"] == false);
  CheckError(agent.Call("PUT", "/v1/drain/ghost?ack=local"), 404, "not_found");
  CheckError(agent.Call("PUT", "/v1/drain/bad%20node?ack=local"), 400, "invalid_argument");

  auto put = agent.Call("PUT", "/v1/kv/some/key?ack=local", "any bytes");
  REQUIRE(put.first == 200);
  CHECK(put.second["key"] == "some/key");
  auto got = agent.Call("GET", "/v1/kv/some/key");
  REQUIRE(got.first == 200);
  CHECK(got.second["value"] == "any bytes");
  CheckError(agent.Call("GET", "/v1/kv/none"), 404, "not_found");

  auto status = agent.Call("GET", "/v1/log/status");
  REQUIRE(status.first == 200);
  for (const char* field :
       {"origin", "clock", "heads", "floors", "peers", "stats", "size_on_disk_bytes"}) {
    CHECK(status.second.contains(field));
  }
  CHECK(status.second["stats"]["writes"].get<uint64_t>() >= 3);
}

TEST_CASE("API: images pushed, listed, removed; bad pushes refused", "[api]") {
  LocalAgent agent;
  REQUIRE(
      agent.Call("POST", "/v1/sites?ack=local", R"({"name":"shop","domains":["shop.example.com"]})")
          .first == 200);
  const fs::path tree = agent.dir() / "tree";
  fs::create_directories(tree / "www");
  std::ofstream(tree / "www" / "index.html") << "hello\n";

  CheckError(agent.Call("POST", "/v1/images/shop", R"({"path":"relative/tree"})"), 400,
             "invalid_argument");
  CheckError(agent.Call("POST", "/v1/images/shop", R"({"path":"/tmp","colour":1})"), 400,
             "invalid_argument");
  CheckError(agent.Call("POST", "/v1/images/nosuch", R"({"path":"/tmp"})"), 404, "not_found");
  CheckError(agent.Call("POST", "/v1/images/shop", R"({"path":"/nonexistent/tree"})"), 404,
             "not_found");
  CheckError(agent.Call("DELETE", "/v1/images/shop?ack=local"), 404, "not_found");

  const json push = {{"path", tree.string()}, {"command", {"/bin/true"}}};
  auto pushed = agent.Call("POST", "/v1/images/shop?ack=local", push.dump());
  INFO(pushed.second.dump());
  REQUIRE(pushed.first == 200);
  const std::string version = pushed.second["version"];
  CHECK(version.size() == 64);
  CHECK(pushed.second["files"] == 1);
  CHECK(pushed.second["removed_versions"] == 0);
  CHECK(pushed.second.contains("written"));

  auto all = agent.Call("GET", "/v1/images");
  REQUIRE(all.first == 200);
  REQUIRE(all.second["versions"].size() == 1);
  CHECK(all.second["versions"][0]["version"] == version);
  CHECK(all.second["versions"][0]["current"] == true);
  auto status = agent.Call("GET", "/v1/images/shop/status");
  REQUIRE(status.first == 200);
  CHECK(status.second["site"] == "shop");
  CHECK(status.second["versions"][0]["live_nodes"] == 1);
  CheckError(agent.Call("GET", "/v1/images/BAD/status"), 400, "invalid_argument");
  CheckError(agent.Call("GET", "/v1/images/shop/" + std::string(64, 'a') + "/missing"), 404,
             "not_found");
  auto verify = agent.Call("POST", "/v1/images-verify");
  CHECK(verify.first == 200);

  // A command line is kept as written, for the copy's own shell: $PORT is not expanded here.
  std::ofstream(tree / "www" / "index.html") << "hello again\n";
  auto line =
      agent.Call("POST", "/v1/images/shop?ack=local",
                 json{{"path", tree.string()}, {"command", "exec httpd -p 0.0.0.0:$PORT"}}.dump());
  INFO(line.second.dump());
  REQUIRE(line.first == 200);
  auto shown = agent.Call("GET", "/v1/images/shop");
  REQUIRE(shown.first == 200);
  CHECK(shown.second["versions"][0]["command"] ==
        json::array({"/bin/sh", "-c", "exec httpd -p 0.0.0.0:$PORT"}));
  CheckError(
      agent.Call("POST", "/v1/images/shop", json{{"path", tree.string()}, {"command", ""}}.dump()),
      400, "invalid_argument");
  CheckError(
      agent.Call("POST", "/v1/images/shop", json{{"path", tree.string()}, {"command", 7}}.dump()),
      400, "invalid_argument");
  auto second = agent.Call(
      "DELETE", "/v1/images/shop/" + line.second["version"].get<std::string>() + "?ack=local");
  REQUIRE(second.first == 200);

  auto removed = agent.Call("DELETE", "/v1/images/shop/" + version + "?ack=local");
  REQUIRE(removed.first == 200);
  CHECK(removed.second["removed_versions"] == 1);
}

TEST_CASE("API: copies, events, balancer, keyring and metrics", "[api]") {
  LocalAgent agent;
  auto copies = agent.Call("GET", "/v1/copies");
  REQUIRE(copies.first == 200);
  CHECK(copies.second["copies"] == json::array());
  auto events = agent.Call("GET", "/v1/events?after=0");
  REQUIRE(events.first == 200);
  CHECK(events.second["events"].is_array());
  CheckError(agent.Call("GET", "/v1/events?after=soon"), 400, "invalid_argument");

  CheckError(agent.Call("GET", "/v1/balancer"), 404, "not_found");
  CheckError(agent.Call("GET", "/v1/balancer/drained?backend=nonsense"), 400, "invalid_argument");
  CheckError(agent.Call("GET", "/v1/balancer/drained?backend=127.0.0.1:80"), 404, "not_found");

  auto keys = agent.Call("GET", "/v1/keyring");
  REQUIRE(keys.first == 200);
  REQUIRE(keys.second["keys"].size() == 1);
  CHECK(keys.second["keys"][0]["primary"] == true);
  CHECK(keys.second["keys"][0]["fingerprint"].get<std::string>().size() == 16);
  CheckError(agent.Call("POST", "/v1/keyring/install", R"({"key":"short"})"), 400,
             "invalid_argument");
  const std::string second = net::Keyring::EncodeKey(net::Keyring::Generate());
  CheckError(agent.Call("POST", "/v1/keyring/use", json{{"key", second}}.dump()), 404, "not_found");
  auto installed = agent.Call("POST", "/v1/keyring/install", json{{"key", second}}.dump());
  REQUIRE(installed.first == 200);
  CHECK(installed.second["keys"].size() == 2);
  // The keyring file in the data dir holds it now (it wins over the key file at the next start).
  std::ifstream keyring(agent.dir() / "data" / "keyring");
  const std::string text((std::istreambuf_iterator<char>(keyring)),
                         std::istreambuf_iterator<char>());
  CHECK(text.find(second) != std::string::npos);
  auto used = agent.Call("POST", "/v1/keyring/use", json{{"key", second}}.dump());
  REQUIRE(used.first == 200);
  const std::string first_fingerprint = keys.second["keys"][0]["fingerprint"];
  CHECK(used.second["keys"][0]["fingerprint"] != first_fingerprint);
  CheckError(agent.Call("POST", "/v1/keyring/remove", json{{"key", second}}.dump()), 409,
             "failed_precondition");

  auto metrics = agent.Call("GET", "/metrics");
  REQUIRE(metrics.first == 200);
  REQUIRE(metrics.second.is_string());
  const std::string body = metrics.second;
  for (const char* series : {"starling_members{status=\"alive\"} 1", "starling_log_entries_total",
                             "starling_transport_requests_total", "starling_image_chunks_total"}) {
    CHECK(body.find(series) != std::string::npos);
  }
}

}  // namespace
}  // namespace starling::agent
