// TLS on the API (issue 16, docs/SECURITY.md): served with a certificate the cluster issues from
// its key (or the operator's), verified by clients holding the cluster's CA and by nobody else;
// plain HTTP gets nothing from it; members advertise https; the CLI trusts the CA it derives from
// the key file, the one it is given, or its node's.
#include "src/auth/api_tls.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <ctime>
#include <fstream>
#include <string>
#include <variant>

#include "base/file.h"
#include "src/agent/api_identity.h"
#include "tests/agent/local_agent.h"

namespace starling::agent {
namespace {

using starling::testing::Cluster;
using starling::testing::RunCommand;
using starling::testing::WaitFor;
using testing::LocalAgent;
using json = nlohmann::json;
namespace fs = std::filesystem;

const std::string kTlsOn = "api_tls = \"on\"\n";

// Writes `text` to `path` with `mode`.
void WriteFile(const fs::path& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

// The CA of a cluster key nobody here uses, as a file.
fs::path StrangerCa(const fs::path& dir) {
  auto pem = auth::ClusterCaPem(net::Keyring::Generate());
  REQUIRE(pem.ok());
  WriteFile(dir / "stranger-ca.pem", *pem, 0644);
  return dir / "stranger-ca.pem";
}

// GET /v1/self over HTTPS at `host`, trusting `ca_file`: the status, or the client's error.
std::variant<int, httplib::Error> GetSelf(const std::string& host, uint16_t port,
                                          const fs::path& ca_file) {
  httplib::Client client("https://" + host + ":" + std::to_string(port));
  client.set_ca_cert_path(ca_file.string());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  httplib::Result answer = client.Get("/v1/self");
  if (!answer) return answer.error();
  return answer->status;
}

TEST_CASE("TLS: a node's certificate names its addresses, host names and loopback", "[unit]") {
  auto config = ParseConfig(
      "node_name = \"web-1\"\nkey_file = \"k\"\ndata_dir = \"d\"\napi = \"0.0.0.0:7947\"\n"
      "bind = \"10.0.0.5:7946\"\napi_hosts = [\"web-1.rack.example\"]\n",
      "names.toml");
  REQUIRE(config.ok());
  const std::vector<std::string> names = ApiCertificateNames(*config);
  CHECK(names == std::vector<std::string>{"10.0.0.5", "web-1.rack.example", "web-1", "localhost",
                                          "127.0.0.1", "::1"});
  // A node name that is no host name is left out (the certificate would be refused).
  auto underscored =
      ParseConfig("node_name = \"web_1\"\nkey_file = \"k\"\ndata_dir = \"d\"\n", "names.toml");
  REQUIRE(underscored.ok());
  CHECK(ApiCertificateNames(*underscored) ==
        std::vector<std::string>{"127.0.0.1", "localhost", "::1"});
}

TEST_CASE("TLS: the API serves the cluster's certificate; plain HTTP and other CAs get nothing",
          "[security]") {
  LocalAgent agent("", kTlsOn);
  auto self = agent.Call("GET", "/v1/self");  // over TLS, trusting the CA the node wrote
  INFO(self.second.dump());
  REQUIRE(self.first == 200);

  // The CA file is the keyring's CAs: what a client holding the key derives.
  auto key = ReadFile(agent.dir() / "key");
  REQUIRE(key.ok());
  auto keyring = net::Keyring::Parse(*key);
  REQUIRE(keyring.ok());
  auto bundle = auth::ClusterCaBundle(keyring->keys());
  REQUIRE(bundle.ok());
  auto written = ReadFile(agent.dir() / "data" / "api-ca.pem");
  REQUIRE(written.ok());
  CHECK(*written == *bundle);

  // It names its addresses and loopback: "localhost" verifies as well as 127.0.0.1.
  const fs::path ca = agent.dir() / "data" / "api-ca.pem";
  CHECK(std::get<int>(GetSelf("localhost", agent.api_port(), ca)) == 401);  // no credential
  // Another cluster's CA does not verify it.
  CHECK(std::get<httplib::Error>(GetSelf("127.0.0.1", agent.api_port(), StrangerCa(agent.dir()))) ==
        httplib::Error::SSLServerVerification);
  // Plain HTTP is not answered.
  httplib::Client plain("127.0.0.1", agent.api_port());
  plain.set_read_timeout(5, 0);
  CHECK_FALSE(plain.Get("/v1/self"));

  // The member list advertises the API's https URL.
  auto members = agent.Call("GET", "/v1/members");
  REQUIRE(members.first == 200);
  REQUIRE(members.second["members"].size() == 1);
  CHECK(members.second["members"][0]["api"] ==
        "https://127.0.0.1:" + std::to_string(agent.api_port()));
}

TEST_CASE("TLS: the CLI trusts the CA from the key file or the CA file, and says what is wrong",
          "[security]") {
  LocalAgent agent("", kTlsOn);
  const std::string cli = std::string(STARLING_BINARY) +
                          " --api https://127.0.0.1:" + std::to_string(agent.api_port()) +
                          " members 2>&1; echo rc=$?";
  // STARLING_KEY_FILE is set (LocalAgent): the CA derived from the key.
  CHECK_THAT(RunCommand(cli), Catch::Contains("api-node") && Catch::EndsWith("rc=0\n"));
  // The node's CA file, with a token for a credential.
  auto created = agent.Call("POST", "/v1/tokens?ack=local",
                            json{{"name", "watcher"}, {"role", "readonly"}}.dump());
  REQUIRE(created.first == 200);
  const std::string token = created.second["token"];
  CHECK_THAT(RunCommand("env -u STARLING_KEY_FILE STARLING_TOKEN=" + token + " STARLING_CA_FILE=" +
                        (agent.dir() / "data" / "api-ca.pem").string() + " " + cli),
             Catch::Contains("api-node") && Catch::EndsWith("rc=0\n"));
  // A CA that did not issue it: refused, and the CLI says what to set.
  CHECK_THAT(RunCommand("STARLING_CA_FILE=" + StrangerCa(agent.dir()).string() + " " + cli),
             Catch::Contains("not one this CLI trusts") && Catch::Contains("STARLING_CA_FILE") &&
                 Catch::EndsWith("rc=5\n"));
  // Plain HTTP to it (a loopback host:port means http): the CLI says to use https.
  CHECK_THAT(RunCommand(std::string(STARLING_BINARY) + " --api 127.0.0.1:" +
                        std::to_string(agent.api_port()) + " members 2>&1; echo rc=$?"),
             Catch::Contains("does it serve TLS?") && Catch::EndsWith("rc=5\n"));
}

TEST_CASE("TLS: an operator's certificate is served as given; its key must be private",
          "[security]") {
  char pattern[] = "/tmp/starling-tls-XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  const fs::path dir = pattern;
  // The operator's CA (any CA will do: one derived from a key of its own here).
  const net::Key operator_key = net::Keyring::Generate();
  auto issued =
      auth::IssueServerCertificate(operator_key, "api-node", {"127.0.0.1"}, std::time(nullptr));
  REQUIRE(issued.ok());
  WriteFile(dir / "ca.pem", issued->ca_pem, 0644);
  WriteFile(dir / "cert.pem", issued->cert_pem, 0644);
  WriteFile(dir / "key.pem", issued->key_pem, 0600);
  const std::string files = "api_cert = \"" + (dir / "cert.pem").string() + "\"\napi_key = \"" +
                            (dir / "key.pem").string() + "\"\n";
  {
    LocalAgent agent("", kTlsOn + files);
    agent.TrustCa(dir / "ca.pem");
    CHECK(agent.Call("GET", "/v1/self").first == 200);
    // The cluster's own CA did not issue this one.
    CHECK(std::get<httplib::Error>(
              GetSelf("127.0.0.1", agent.api_port(), agent.dir() / "data" / "api-ca.pem")) ==
          httplib::Error::SSLServerVerification);
  }

  // A key others may read is no secret: the agent does not start with it.
  WriteFile(dir / "key.pem", issued->key_pem, 0644);
  fs::create_directories(dir / "data");
  auto config = ParseConfig("node_name = \"n\"\nkey_file = \"k\"\ndata_dir = \"" +
                                (dir / "data").string() + "\"\n" + kTlsOn + files,
                            "tls.toml");
  REQUIRE(config.ok());
  auto identity = LoadApiIdentity(*config, net::Keyring({net::Keyring::Generate()}), 0);
  CHECK(identity.status().code() == StatusCode::kPermissionDenied);
  fs::remove_all(dir);
}

TEST_CASE("TLS: on a node, the CLI asks a member that serves TLS, trusting the node's CA file",
          "[security]") {
  Cluster cluster;
  cluster.Add("secure", {}, kTlsOn);
  cluster.Add("plain");
  for (auto& agent : cluster.agents()) cluster.Start(agent);
  const Cluster::Agent& secure = cluster.agents()[0];
  const Cluster::Agent& plain = cluster.agents()[1];
  REQUIRE(WaitFor(std::chrono::seconds(10), [&] { return cluster.AllAlive(2); }));

  // What `plain` hears of `secure`: its https API.
  auto members = Cluster::Members(plain);
  REQUIRE(members);
  for (const auto& member : (*members)["members"]) {
    if (member["name"] != "secure") continue;
    CHECK(member["api"] == "https://127.0.0.1:" + std::to_string(secure.api_port));
  }

  // `starling copies` on `plain`'s own socket asks `secure` too (over TLS): an error would name it.
  const std::string on_plain = std::string(STARLING_BINARY) +
                               " --api unix:" + (cluster.dir() / "plain" / "api.sock").string() +
                               " copies 2>&1; echo rc=$?";
  auto asked_secure_fine = [&](const std::string& env) {
    const std::string output = RunCommand(env + on_plain);
    UNSCOPED_INFO(output);
    return output.find("starling: secure:") == std::string::npos && output.ends_with("rc=0\n");
  };
  CHECK(asked_secure_fine(""));  // the CA from the key file
  // A CA that did not issue it: the member is named, with what to set.
  const std::string refused =
      RunCommand("STARLING_CA_FILE=" + StrangerCa(cluster.dir()).string() + " " + on_plain);
  CHECK_THAT(refused, Catch::Contains("starling: secure: no agent answers at https://") &&
                          Catch::Contains("not one this CLI trusts"));
  // A token and no key: the CA file beside the node's socket.
  auto created = Cluster::Api(plain, "POST", "/v1/tokens?ack=all-live",
                              json{{"name", "watcher"}, {"role", "readonly"}}.dump());
  REQUIRE(created);
  REQUIRE(created->first == 200);
  const std::string token = created->second["token"];
  CHECK(WaitFor(std::chrono::seconds(10), [&] {
    return asked_secure_fine("env -u STARLING_KEY_FILE STARLING_TOKEN=" + token + " ");
  }));
}

}  // namespace
}  // namespace starling::agent
