// tests/agent/local_agent.h — one agent in the test process, on loopback (no root, no other
// process), for the API's contract tests and the security tests.
#pragma once

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "src/agent/agent.h"
#include "src/agent/config.h"
#include "src/net/sealer.h"
#include "tests/integration/cluster.h"
#include "tests/integration/credential.h"

namespace starling::agent::testing {

namespace fs = std::filesystem;
using json = nlohmann::json;
using starling::testing::FreePort;

// One agent in this process, on loopback, until it is told to leave.
class LocalAgent {
 public:
  // `extra_toml` follows the configuration's last table, [images]: bare keys land there;
  // `top_toml` goes before the tables.
  explicit LocalAgent(const std::string& extra_toml = "", const std::string& top_toml = "") {
    char pattern[] = "/tmp/starling-api-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    dir_ = pattern;
    spdlog::set_level(spdlog::level::warn);  // the agent's log, in this process
    starling::testing::WriteKeyFile(dir_ / "key",
                                    net::Keyring::EncodeKey(net::Keyring::Generate()) + "\n");
    ::setenv("STARLING_KEY_FILE", (dir_ / "key").c_str(), 1);
    api_port_ = FreePort();
    gossip_port_ = FreePort();
    const std::string toml =
        "node_name = \"api-node\"\n"
        "bind = \"127.0.0.1:" +
        std::to_string(gossip_port_) +
        "\"\n"
        "api = \"127.0.0.1:" +
        std::to_string(api_port_) +
        "\"\n"
        "key_file = \"" +
        (dir_ / "key").string() +
        "\"\n"
        "data_dir = \"" +
        (dir_ / "data").string() +
        "\"\n"
        "log_level = \"warn\"\n" +
        top_toml +
        "[copies]\ndriver = \"process\"\n"
        "[images]\nmaterialize = false\nscrub_mb_s = 0\n" +
        extra_toml;
    auto config = ParseConfig(toml, "api_test.toml");
    INFO(config.status().ToString());
    REQUIRE(config.ok());
    tls_ = ApiUsesTls(*config);
    auto agent = Agent::Create(std::move(*config));
    INFO(agent.status().ToString());
    REQUIRE(agent.ok());
    agent_ = std::move(*agent);
    thread_ = std::thread([this] { exit_code_ = agent_->Run(); });
  }
  ~LocalAgent() {
    if (thread_.joinable()) {
      Call("POST", "/v1/leave");
      thread_.join();
    }
    agent_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // The status and the parsed body (a JSON string when the body is not JSON), called with the
  // cluster-key credential.
  std::pair<int, json> Call(const std::string& method, const std::string& path,
                            const std::string& body = "{}") {
    const std::string sent = method == "GET" || method == "DELETE" ? "" : body;
    return CallWith(method, path, starling::testing::AuthHeaders(method, path, sent), sent);
  }

  // A request with exactly `headers` (no credential unless they carry one): the status and body.
  std::pair<int, json> CallWith(const std::string& method, const std::string& path,
                                const httplib::Headers& headers, const std::string& body = "") {
    httplib::Client client = Client();
    client.set_connection_timeout(2, 0);
    client.set_read_timeout(10, 0);
    httplib::Result response = starling::testing::Send(client, method, path, headers, body);
    REQUIRE(response);
    auto parsed = json::parse(response->body, nullptr, false);
    if (parsed.is_discarded()) parsed = json(response->body);
    return {response->status, parsed};
  }

  // A client of the API: HTTPS when the agent serves it, trusting the CA it wrote.
  httplib::Client Client() const {
    httplib::Client client((tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") +
                           std::to_string(api_port_));
    if (tls_) {
      client.set_ca_cert_path(ca_file_.empty() ? (dir_ / "data" / "api-ca.pem").string()
                                               : ca_file_.string());
      client.enable_server_certificate_verification(true);
    }
    return client;
  }

  // Trust `ca_file` instead of the cluster's CA (an operator's certificate).
  void TrustCa(const fs::path& ca_file) { ca_file_ = ca_file; }

  // Joins the agent's thread after a leave; its exit code.
  int Join() {
    thread_.join();
    return exit_code_;
  }
  const fs::path& dir() const { return dir_; }
  uint16_t api_port() const { return api_port_; }
  uint16_t gossip_port() const { return gossip_port_; }

 private:
  fs::path dir_;
  uint16_t api_port_ = 0;
  uint16_t gossip_port_ = 0;
  bool tls_ = false;
  fs::path ca_file_;  // empty: the CA the agent wrote
  std::unique_ptr<Agent> agent_;
  std::thread thread_;
  int exit_code_ = -1;
};

}  // namespace starling::agent::testing
