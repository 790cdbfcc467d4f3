// No request takes a node's API down (issue 16, docs/SECURITY.md): each attack that worked on the
// old server, against an agent in this process. Runs without root.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "tests/agent/local_agent.h"
#include "tests/security/raw_socket.h"

namespace starling::agent {
namespace {

using testing::LocalAgent;

using security::ConnectFrom;
using security::ReadAll;
using security::ResidentBytes;
using security::SendAll;

TEST_CASE("API limits: JSON nested 200,000 deep is refused and the agent keeps answering",
          "[security]") {
  LocalAgent agent;
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  auto nested = agent.Call("POST", "/v1/sites", R"({"name":"shop","x":)" + deep + "}");
  INFO(nested.second.dump());
  CHECK(nested.first == 400);
  CHECK(nested.second["kind"] == "invalid_argument");
  // Deep objects too, and within the byte limit.
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += R"({"a":)";
  objects += "1" + std::string(100000, '}');
  CHECK(agent.Call("POST", "/v1/sites", objects).first == 400);
  // Nesting within the limit is still fine to parse (the route then judges the fields).
  CHECK(agent.Call("POST", "/v1/sites", R"({"name":"shop","domains":[["x"]]})").first == 400);
  // A field of the wrong type is the client's mistake (400), never the server's (500).
  auto typed = agent.Call("POST", "/v1/tokens", R"({"name":5,"role":"readonly"})");
  CHECK(typed.first == 400);
  CHECK(typed.second.value("kind", "") == "invalid_argument");
  CHECK(agent.Call("GET", "/v1/self").first == 200);
}

TEST_CASE("API limits: a 300 MB body is refused with 413 before it is read", "[security]") {
  LocalAgent agent;
  const size_t before = ResidentBytes();
  const int fd = ConnectFrom("127.0.0.1", agent.api_port());
  REQUIRE(fd >= 0);
  REQUIRE(SendAll(fd,
                  "POST /v1/sites HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                  "application/json\r\nContent-Length: 314572800\r\n\r\n"));
  // Keep sending body while the answer comes: the server must not wait for (or keep) it all.
  const std::string megabyte(1 << 20, 'x');
  for (int i = 0; i < 8 && SendAll(fd, megabyte); ++i) {
  }
  const std::string answer = ReadAll(fd);
  ::close(fd);
  INFO(answer.substr(0, 300));
  CHECK(answer.starts_with("HTTP/1.1 413"));
  CHECK(answer.find("\"kind\": \"invalid_argument\"") != std::string::npos);
  CHECK(ResidentBytes() < before + (64u << 20));

  // Chunked, with no length to refuse up front: closed once past the limit, nothing kept.
  const int chunked = ConnectFrom("127.0.0.1", agent.api_port());
  REQUIRE(chunked >= 0);
  REQUIRE(SendAll(chunked,
                  "POST /v1/sites HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: "
                  "chunked\r\n\r\n"));
  const std::string chunk = "100000\r\n" + megabyte + "\r\n";
  int sent = 0;
  while (sent < 300 && SendAll(chunked, chunk)) ++sent;
  ::close(chunked);
  CHECK(sent < 300);  // the server closed the connection long before 300 MB
  CHECK(ResidentBytes() < before + (64u << 20));
  CHECK(agent.Call("GET", "/v1/self").first == 200);
}

TEST_CASE("API limits: slow-header clients do not stall other clients", "[security]") {
  LocalAgent agent;
  // 64 connections from one address each send half a request line and then nothing: the old
  // server's 8 threads were all held by the first 8 until their read timeouts.
  std::vector<int> slow;
  for (int i = 0; i < 64; ++i) {
    const int fd = ConnectFrom("127.0.0.2", agent.api_port());
    if (fd < 0) continue;
    SendAll(fd, "GET /v1/se");
    slow.push_back(fd);
  }
  CHECK(slow.size() >= 32);
  // Another client does not queue behind them: it is answered within its 2 s deadline (the old
  // server's threads were held for their 5 s read timeouts), again and again.
  httplib::Client client("127.0.0.1", agent.api_port());
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(2, 0);
  for (int i = 0; i < 20; ++i) {
    auto self = starling::testing::AuthorizedCall(client, "GET", "/v1/self");
    REQUIRE(self);
    CHECK(self->status == 200);
  }
  // Past the per-client bound, the slow address is refused: some of its connections are closed.
  int closed = 0;
  for (int fd : slow) {
    if (security::ClosedWithin(fd, std::chrono::milliseconds(20))) ++closed;
  }
  CHECK(closed >= 64 - 32 - 1);
  for (int fd : slow) ::close(fd);
}

}  // namespace
}  // namespace starling::agent
