// tests/integration/credential.h — the tests call agents' APIs as the operator on a node does:
// with a cluster-key credential (src/auth/cluster_credential.h) made from the key file named by
// STARLING_KEY_FILE, which Cluster and LocalAgent set (the CLI they run inherits it).
#pragma once

#include <httplib.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "src/agent/clock.h"
#include "src/auth/cluster_credential.h"
#include "src/net/sealer.h"

namespace starling::testing {

// Writes `key` to `path`, readable by its owner only (the agent and the CLI refuse others).
inline void WriteKeyFile(const std::string& path, const std::string& key) {
  std::ofstream(path) << key;
  ::chmod(path.c_str(), 0600);
}

// The Authorization header for one request (method, path without the query, body), made with
// `key_file` (default: STARLING_KEY_FILE).
inline httplib::Headers AuthHeaders(const std::string& method, const std::string& path,
                                    const std::string& body = "", std::string key_file = "") {
  if (key_file.empty() && std::getenv("STARLING_KEY_FILE") != nullptr) {
    key_file = std::getenv("STARLING_KEY_FILE");
  }
  if (key_file.empty()) return {};
  const std::string& file = key_file;
  std::ifstream in(file);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto keyring = net::Keyring::Parse(text);
  if (!keyring.ok()) return {};
  net::Sealer sealer(std::move(*keyring), 60000, 1 << 20);
  return {{"Authorization",
           auth::ClusterCredential(
               sealer, method, httplib::detail::decode_url(path.substr(0, path.find('?')), false),
               auth::BodyHash(body), agent::WallMs())}};
}

// One request with exactly `headers`; the result as httplib gives it.
inline httplib::Result Send(httplib::Client& client, const std::string& method,
                            const std::string& path, const httplib::Headers& headers,
                            const std::string& body = "") {
  if (method == "GET") return client.Get(path, headers);
  if (method == "DELETE") return client.Delete(path, headers);
  if (method == "PUT") return client.Put(path, headers, body, "application/json");
  if (method == "PATCH") return client.Patch(path, headers, body, "application/json");
  return client.Post(path, headers, body, "application/json");
}

// One request with the credential (made with `key_file`, default STARLING_KEY_FILE).
inline httplib::Result AuthorizedCall(httplib::Client& client, const std::string& method,
                                      const std::string& path, const std::string& body = "",
                                      const std::string& key_file = "") {
  return Send(client, method, path, AuthHeaders(method, path, body, key_file), body);
}

}  // namespace starling::testing
