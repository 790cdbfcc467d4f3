// Every API call is authenticated (issue 16, docs/SECURITY.md): what a copy sharing the host's
// network could do to the old API — read the keyring, create a site, stop the node — is refused
// without a credential; tokens carry roles, a site's token acts on its site only; a browser's
// cross-site or rebinding request is refused; the node's unix socket needs no credential.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "tests/agent/local_agent.h"
#include "tests/security/raw_socket.h"

namespace starling::agent {
namespace {

using testing::LocalAgent;
using json = nlohmann::json;

httplib::Headers Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

// A token made with the cluster credential; its secret text.
std::string CreateToken(LocalAgent& agent, const json& spec) {
  auto created = agent.Call("POST", "/v1/tokens?ack=local", spec.dump());
  INFO(created.second.dump());
  REQUIRE(created.first == 200);
  return created.second["token"].get<std::string>();
}

// One request over the node's unix socket, with no credential: the status line.
std::string OverSocket(const std::string& path, const std::string& request) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  REQUIRE(security::SendAll(fd, request));
  const std::string answer = security::ReadAll(fd);
  ::close(fd);
  return answer.substr(0, answer.find("\r\n"));
}

TEST_CASE("Auth: without a credential nothing is read or changed", "[security]") {
  LocalAgent agent;
  for (const auto& [method, path, body] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"GET", "/v1/keyring", ""},
           {"POST", "/v1/sites", R"({"name":"evil","domains":["evil.example.com"]})"},
           {"POST", "/v1/leave", "{}"},
           {"GET", "/v1/sites", ""},
           {"PUT", "/v1/kv/x", "y"},
           {"GET", "/metrics", ""}}) {
    auto answer = agent.CallWith(method, path, {}, body);
    INFO(method << " " << path << ": " << answer.second.dump());
    CHECK(answer.first == 401);
    CHECK(answer.second["kind"] == "unauthenticated");
  }
  // A made-up token and a garbled cluster credential fare no better.
  CHECK(agent.CallWith("GET", "/v1/sites", Bearer("stk.admin." + std::string(43, 'A'))).first ==
        401);
  CHECK(agent.CallWith("GET", "/v1/sites", {{"Authorization", "Starling-Key AAAA"}}).first == 401);
  // Nothing changed, and the agent still runs.
  auto sites = agent.Call("GET", "/v1/sites");
  REQUIRE(sites.first == 200);
  CHECK(sites.second["sites"].empty());
}

TEST_CASE("Auth: a cluster credential is good for its one request, once", "[security]") {
  LocalAgent agent;
  const auto headers = starling::testing::AuthHeaders("GET", "/v1/sites");
  CHECK(agent.CallWith("GET", "/v1/sites", headers).first == 200);
  auto replayed = agent.CallWith("GET", "/v1/sites", headers);
  CHECK(replayed.first == 401);
  // Made for one body, sent with another.
  const std::string body = R"({"name":"shop","domains":["shop.example.com"]})";
  const auto for_body = starling::testing::AuthHeaders("POST", "/v1/sites", body);
  auto moved = agent.CallWith("POST", "/v1/sites", for_body,
                              R"({"name":"evil","domains":["evil.example.com"]})");
  CHECK(moved.first == 401);
  // Made for one path, sent to another.
  const auto for_path = starling::testing::AuthHeaders("GET", "/v1/sites");
  CHECK(agent.CallWith("GET", "/v1/keyring", for_path).first == 401);
}

TEST_CASE("Auth: browsers' cross-site and rebinding requests are refused", "[security]") {
  LocalAgent agent;
  // DNS rebinding: a page at evil.example resolving to 127.0.0.1.
  auto headers = starling::testing::AuthHeaders("GET", "/v1/sites");
  headers.emplace("Host", "evil.example:" + std::to_string(agent.api_port()));
  auto rebound = agent.CallWith("GET", "/v1/sites", headers);
  CHECK(rebound.first == 403);
  CHECK(rebound.second["kind"] == "permission_denied");
  // A form on another site posting to the API.
  const std::string body = R"({"name":"evil","domains":["evil.example.com"]})";
  auto cross = starling::testing::AuthHeaders("POST", "/v1/sites", body);
  cross.emplace("Origin", "http://evil.example");
  CHECK(agent.CallWith("POST", "/v1/sites", cross, body).first == 403);
  // text/plain needs no preflight in a browser: never taken for JSON.
  httplib::Client client("127.0.0.1", agent.api_port());
  auto plain = client.Post("/v1/sites", starling::testing::AuthHeaders("POST", "/v1/sites", body),
                           body, "text/plain");
  REQUIRE(plain);
  CHECK(plain->status == 415);
  CHECK(agent.Call("GET", "/v1/sites").second["sites"].empty());
}

TEST_CASE("Auth: tokens carry roles, and a site's token acts on its site only", "[security]") {
  LocalAgent agent;
  REQUIRE(
      agent.Call("POST", "/v1/sites?ack=local", R"({"name":"shop","domains":["shop.example.com"]})")
          .first == 200);
  REQUIRE(
      agent.Call("POST", "/v1/sites?ack=local", R"({"name":"blog","domains":["blog.example.com"]})")
          .first == 200);
  const std::string reader = CreateToken(agent, {{"name", "reader"}, {"role", "readonly"}});
  const std::string ops = CreateToken(agent, {{"name", "ops"}, {"role", "operator"}});
  const std::string admin = CreateToken(agent, {{"name", "root"}, {"role", "admin"}});
  const std::string customer =
      CreateToken(agent, {{"name", "shop-owner"}, {"role", "operator"}, {"site", "shop"}});

  // Bad token requests.
  CHECK(agent.Call("POST", "/v1/tokens?ack=local", R"({"name":"x","role":"god"})").first == 400);
  CHECK(agent.Call("POST", "/v1/tokens?ack=local", R"({"name":"ops","role":"readonly"})").first ==
        409);
  CHECK(
      agent
          .Call("POST", "/v1/tokens?ack=local", R"({"name":"y","role":"operator","site":"nosuch"})")
          .first == 404);
  CHECK(agent.Call("POST", "/v1/tokens?ack=local", R"({"name":"z","role":"admin","site":"shop"})")
            .first == 400);

  // readonly: reads, writes nothing, sees no secrets.
  CHECK(agent.CallWith("GET", "/v1/sites", Bearer(reader)).first == 200);
  CHECK(agent.CallWith("GET", "/metrics", Bearer(reader)).first == 200);
  CHECK(agent.CallWith("PATCH", "/v1/sites/shop", Bearer(reader), R"({"max":3})").first == 403);
  CHECK(agent.CallWith("GET", "/v1/keyring", Bearer(reader)).first == 403);
  CHECK(agent.CallWith("GET", "/v1/tokens", Bearer(reader)).first == 403);

  // operator: sites, not the keyring, tokens or the node's life.
  CHECK(agent.CallWith("PATCH", "/v1/sites/blog?ack=local", Bearer(ops), R"({"max":3})").first ==
        200);
  CHECK(agent.CallWith("GET", "/v1/keyring", Bearer(ops)).first == 403);
  CHECK(agent.CallWith("POST", "/v1/leave", Bearer(ops), "{}").first == 403);
  CHECK(
      agent.CallWith("POST", "/v1/tokens", Bearer(ops), R"({"name":"me","role":"admin"})").first ==
      403);

  // admin: the keyring and tokens.
  CHECK(agent.CallWith("GET", "/v1/keyring", Bearer(admin)).first == 200);
  auto listed = agent.CallWith("GET", "/v1/tokens", Bearer(admin));
  REQUIRE(listed.first == 200);
  CHECK(listed.second["tokens"].size() == 4);
  const std::string text = listed.second.dump();
  CHECK(text.find("hash") == std::string::npos);
  for (const auto& secret : {reader, ops, admin, customer}) {
    CHECK(text.find(secret.substr(secret.rfind('.') + 1)) == std::string::npos);
  }

  // The hosting customer's token: its site, nothing else.
  CHECK(agent.CallWith("GET", "/v1/sites/shop", Bearer(customer)).first == 200);
  CHECK(
      agent.CallWith("PATCH", "/v1/sites/shop?ack=local", Bearer(customer), R"({"max":2})").first ==
      200);
  auto other = agent.CallWith("GET", "/v1/sites/blog", Bearer(customer));
  CHECK(other.first == 403);
  CHECK(other.second["kind"] == "permission_denied");
  CHECK(agent.CallWith("PATCH", "/v1/sites/blog", Bearer(customer), R"({"max":9})").first == 403);
  CHECK(agent.CallWith("DELETE", "/v1/sites/blog", Bearer(customer)).first == 403);
  CHECK(agent
            .CallWith("POST", "/v1/sites", Bearer(customer),
                      R"({"name":"new","domains":["new.example.com"]})")
            .first == 403);
  CHECK(agent.CallWith("GET", "/v1/members", Bearer(customer)).first == 403);
  auto own = agent.CallWith("GET", "/v1/sites", Bearer(customer));
  REQUIRE(own.first == 200);
  REQUIRE(own.second["sites"].size() == 1);
  CHECK(own.second["sites"][0]["name"] == "shop");

  // Revoked: refused at once.
  CHECK(agent.Call("DELETE", "/v1/tokens/ops?ack=local").first == 200);
  CHECK(agent.CallWith("GET", "/v1/sites", Bearer(ops)).first == 401);
  CHECK(agent.Call("DELETE", "/v1/tokens/ops?ack=local").first == 404);
  // A wrong secret for a real name.
  std::string forged = reader;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  CHECK(agent.CallWith("GET", "/v1/sites", Bearer(forged)).first == 401);
}

TEST_CASE("Auth: an image is read from the node's disk for its operator only", "[security]") {
  LocalAgent agent;
  REQUIRE(
      agent.Call("POST", "/v1/sites?ack=local", R"({"name":"shop","domains":["shop.example.com"]})")
          .first == 200);
  const std::string ops = CreateToken(agent, {{"name", "ops"}, {"role", "operator"}});
  const std::string customer =
      CreateToken(agent, {{"name", "owner"}, {"role", "operator"}, {"site", "shop"}});
  // A token's holder naming a path on the node (here: the agent's keyring) gets nothing.
  const json steal = {{"path", (agent.dir() / "data").string()}};
  for (const auto& token : {ops, customer}) {
    auto answer = agent.CallWith("POST", "/v1/images/shop", Bearer(token), steal.dump());
    INFO(answer.second.dump());
    CHECK(answer.first == 403);
    CHECK(answer.second["kind"] == "permission_denied");
  }
  // Not even the node's operator imports the agent's own data, or a tree holding it.
  for (const auto& path : {agent.dir() / "data", agent.dir() / "data" / "state", agent.dir()}) {
    auto answer =
        agent.Call("POST", "/v1/images/shop?ack=local", json{{"path", path.string()}}.dump());
    INFO(path << ": " << answer.second.dump());
    CHECK(answer.first == 403);
  }
  auto images = agent.Call("GET", "/v1/images/shop");
  REQUIRE(images.first == 200);
  CHECK(images.second["versions"].empty());
}

TEST_CASE("Auth: the node's unix socket is root's, and needs no credential", "[security]") {
  LocalAgent agent;
  const std::string path = (agent.dir() / "data" / "api.sock").string();
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  CHECK(S_ISSOCK(info.st_mode));
  CHECK((info.st_mode & 0777) == 0600);
  // What the node keeps is its own (RocksDB writes the state log's files 0644: their dir is not).
  for (const char* dir : {"state", "chunks", "images", "uploads", "runtime"}) {
    INFO(dir);
    REQUIRE(::stat((agent.dir() / "data" / dir).c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0700);
  }
  CHECK(OverSocket(path, "GET /v1/self HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n") ==
        "HTTP/1.1 200 OK");
  const std::string body = R"({"name":"local","role":"admin"})";
  CHECK(OverSocket(path,
                   "POST /v1/tokens?ack=local HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                   "application/json\r\nConnection: close\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body) == "HTTP/1.1 200 OK");
}

}  // namespace
}  // namespace starling::agent
