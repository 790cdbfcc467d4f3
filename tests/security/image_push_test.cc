// An image push sends the archive over the API (issue 16): a site's token pushes its own site's
// image and no other's, setuid files need an admin, and an upload past the quota is refused
// before it is read. The agent writes the upload to its own 0700 spool and removes it after.
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "tests/agent/local_agent.h"
#include "tests/security/raw_socket.h"

namespace starling::agent {
namespace {

using json = nlohmann::json;
using testing::LocalAgent;

// A gzip'd tar of `files` (path, mode, content).
std::string Tar(const std::vector<std::tuple<std::string, mode_t, std::string>>& files) {
  const std::string path = testing::fs::temp_directory_path() / "starling-push-test.tar.gz";
  archive* writer = archive_write_new();
  archive_write_set_format_pax_restricted(writer);
  archive_write_add_filter_gzip(writer);
  REQUIRE(archive_write_open_filename(writer, path.c_str()) == ARCHIVE_OK);
  for (const auto& [name, mode, content] : files) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, name.c_str());
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, mode);
    archive_entry_set_size(entry, static_cast<la_int64_t>(content.size()));
    REQUIRE(archive_write_header(writer, entry) == ARCHIVE_OK);
    archive_write_data(writer, content.data(), content.size());
    archive_entry_free(entry);
  }
  archive_write_close(writer);
  archive_write_free(writer);
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(path);
  return bytes;
}

// POSTs `archive` to the site's archive route with `headers`: status and body.
std::pair<int, json> PushArchive(LocalAgent& agent, const std::string& site,
                                 const std::string& archive, httplib::Headers headers) {
  httplib::Client client("127.0.0.1", agent.api_port());
  client.set_read_timeout(30, 0);
  auto response = client.Post("/v1/images/" + site + "/archive?ack=local", headers, archive,
                              "application/octet-stream");
  REQUIRE(response);
  auto parsed = json::parse(response->body, nullptr, false);
  return {response->status, parsed};
}

httplib::Headers Bearer(const std::string& token, const json& push = json::object()) {
  return {{"Authorization", "Bearer " + token}, {"X-Starling-Push", push.dump()}};
}

std::string Token(LocalAgent& agent, const json& spec) {
  auto created = agent.Call("POST", "/v1/tokens?ack=local", spec.dump());
  REQUIRE(created.first == 200);
  return created.second["token"];
}

TEST_CASE("Image push: a site's token pushes its own site's archive, and no other's",
          "[security]") {
  LocalAgent agent("max_image_mb = 1\n");  // into [images]
  for (const char* site : {"shop", "blog"}) {
    REQUIRE(
        agent
            .Call("POST", "/v1/sites?ack=local",
                  json{{"name", site}, {"domains", {std::string(site) + ".example.com"}}}.dump())
            .first == 200);
  }
  const std::string owner =
      Token(agent, {{"name", "owner"}, {"role", "operator"}, {"site", "shop"}});
  const std::string page = Tar({{"index.html", 0644, "<h1>shop</h1>\n"}});

  auto pushed = PushArchive(agent, "shop", page, Bearer(owner, {{"command", "exec httpd"}}));
  INFO(pushed.second.dump());
  REQUIRE(pushed.first == 200);
  CHECK(pushed.second["files"] == 1);
  CHECK(pushed.second["version"].get<std::string>().size() == 64);

  CHECK(PushArchive(agent, "blog", page, Bearer(owner)).first == 403);
  // setuid needs an admin, whoever's site it is.
  const std::string setuid = Tar({{"bin/tool", 04755, "#!/bin/sh\n"}});
  auto refused = PushArchive(agent, "shop", setuid, Bearer(owner, {{"allow_setuid", true}}));
  CHECK(refused.first == 403);
  CHECK(PushArchive(agent, "shop", setuid, Bearer(owner)).first == 400);  // refused as setuid
  // A path on the node is not a token's to name.
  CHECK(agent
            .CallWith("POST", "/v1/images/shop?ack=local", Bearer(owner),
                      json{{"path", agent.dir().string()}}.dump())
            .first == 403);
  // Past the quota (1 MiB here): 413 before the body is read (a raw client, which reads the
  // answer while the server has stopped reading).
  const int fd = security::ConnectFrom("127.0.0.1", agent.api_port());
  REQUIRE(fd >= 0);
  security::SendAll(fd,
                    "POST /v1/images/shop/archive?ack=local HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Authorization: Bearer " +
                        owner + "\r\nContent-Length: " + std::to_string(2 << 20) + "\r\n\r\n");
  security::SendAll(fd, std::string(64 << 10, 'x'));
  const std::string answer = security::ReadAll(fd);
  ::close(fd);
  CHECK(answer.starts_with("HTTP/1.1 413"));
  // Uploads are spooled where only the agent reads, and not kept.
  const auto spool = agent.dir() / "data" / "uploads";
  struct stat info {};
  REQUIRE(::stat(spool.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0700);
  CHECK(std::filesystem::is_empty(spool));
}

TEST_CASE("Image push: a site's own quota, set by the operator, not by the site's token",
          "[security]") {
  LocalAgent agent("max_image_mb = 4\n");  // into [images]: the node's cap
  REQUIRE(agent
              .Call("POST", "/v1/sites?ack=local",
                    json{{"name", "shop"}, {"domains", {"shop.example.com"}}}.dump())
              .first == 200);
  const std::string owner =
      Token(agent, {{"name", "owner"}, {"role", "operator"}, {"site", "shop"}});
  // 300 KB of files (random, so that the archive is as big: under every limit but the quota).
  std::string noise(300 << 10, '\0');
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<char>((i * 2654435761u) >> 13);
  const std::string site_files = Tar({{"www/big.bin", 0644, noise}});
  REQUIRE(PushArchive(agent, "shop", site_files, Bearer(owner)).first == 200);

  // The site's own token may not give itself a quota (raised or lowered).
  auto self_set = agent.CallWith("PATCH", "/v1/sites/shop?ack=local", Bearer(owner),
                                 json{{"image_quota_mb", 4000}}.dump());
  CHECK(self_set.first == 403);
  CHECK(self_set.second.value("kind", "") == "permission_denied");
  // The operator lowers it to under what the site pushes: the next push is refused by quota.
  auto set = agent.Call("PATCH", "/v1/sites/shop?ack=local", json{{"image_quota_mb", 0}}.dump());
  REQUIRE(set.first == 200);
  CHECK(
      agent.Call("PATCH", "/v1/sites/shop?ack=local", json{{"image_quota_mb", -1}}.dump()).first ==
      400);
  REQUIRE(
      agent.Call("PATCH", "/v1/sites/shop?ack=local", json{{"image_quota_mb", 1}}.dump()).first ==
      200);
  CHECK(agent.Call("GET", "/v1/sites/shop").second["image_quota_mb"] == 1);
  const std::string bigger = Tar({{"www/big.bin", 0644, noise + noise + noise + noise}});
  auto over = PushArchive(agent, "shop", bigger, Bearer(owner));
  INFO(over.second.dump());
  CHECK(over.first == 429);  // resource_exhausted
  CHECK(over.second.value("error", "").find("image_quota_mb") != std::string::npos);
  // Back to the node's quota: the same push goes.
  REQUIRE(
      agent.Call("PATCH", "/v1/sites/shop?ack=local", json{{"image_quota_mb", 0}}.dump()).first ==
      200);
  CHECK(PushArchive(agent, "shop", bigger, Bearer(owner)).first == 200);
}

}  // namespace
}  // namespace starling::agent
