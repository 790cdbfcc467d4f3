// Nothing big is read from the transport before it is authenticated (issue 16): connections
// that announce huge frames, or send junk, cost the agent next to nothing; a source address
// gets a bounded number of connections. Against an agent in this process; no root.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/agent/local_agent.h"
#include "tests/security/raw_socket.h"

namespace starling::agent {
namespace {

using testing::LocalAgent;

// A metric's value from /metrics (the first line starting with `series`), or -1.
double Metric(LocalAgent& agent, const std::string& series) {
  auto metrics = agent.Call("GET", "/metrics");
  REQUIRE(metrics.first == 200);
  const std::string text = metrics.second.get<std::string>();
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

TEST_CASE("Frames: 64 connections announcing 32 MiB frames allocate nothing", "[security]") {
  LocalAgent agent;
  const size_t before = security::ResidentBytes();
  std::vector<int> sockets;
  // From 8 addresses, so that the per-address bound alone does not refuse them all.
  for (int i = 0; i < 64; ++i) {
    const int fd =
        security::ConnectFrom("127.0.0." + std::to_string(2 + i % 8), agent.gossip_port());
    REQUIRE(fd >= 0);
    const uint32_t size = 32u << 20;
    const unsigned char header[4] = {
        static_cast<unsigned char>(size >> 24), static_cast<unsigned char>(size >> 16),
        static_cast<unsigned char>(size >> 8), static_cast<unsigned char>(size)};
    security::SendAll(fd, std::string_view(reinterpret_cast<const char*>(header), 4));
    security::SendAll(fd, std::string(64 << 10, 'x'));  // and some of the body
    sockets.push_back(fd);
  }
  // Each is closed by the agent: a first frame over a hello's size is never read.
  int closed = 0;
  for (int fd : sockets) {
    if (security::ClosedWithin(fd, std::chrono::seconds(5))) ++closed;
    ::close(fd);
  }
  CHECK(closed == 64);
  CHECK(security::ResidentBytes() < before + (64u << 20));
  CHECK(Metric(agent, "starling_transport_requests_total{kind=\"rejected\"}") >= 64);
  CHECK(agent.Call("GET", "/v1/self").first == 200);
}

TEST_CASE("Frames: a small junk first frame is refused, and one address is bounded", "[security]") {
  LocalAgent agent;
  // A hello-sized frame that does not open: closed, counted.
  const int junk = security::ConnectFrom("127.0.0.1", agent.gossip_port());
  REQUIRE(junk >= 0);
  security::SendAll(junk, std::string("\0\0\1\0", 4) + std::string(256, 'j'));
  CHECK(security::ClosedWithin(junk, std::chrono::seconds(5)));
  ::close(junk);
  CHECK(Metric(agent, "starling_transport_refused_total{reason=\"hello\"}") == 1);

  // Silent connections from one address: past 16, each new one is closed at once.
  std::vector<int> held;
  for (int i = 0; i < 24; ++i) {
    const int fd = security::ConnectFrom("127.0.0.9", agent.gossip_port());
    REQUIRE(fd >= 0);
    held.push_back(fd);
  }
  int closed = 0;
  for (int fd : held) {
    if (security::ClosedWithin(fd, std::chrono::milliseconds(50))) ++closed;
  }
  CHECK(closed == 8);
  for (int fd : held) ::close(fd);
  CHECK(Metric(agent, "starling_transport_refused_total{reason=\"limit\"}") == 8);
}

}  // namespace
}  // namespace starling::agent
