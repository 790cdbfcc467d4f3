#include "src/cli/client.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "base/file.h"
#include "src/agent/api/server.h"
#include "src/agent/clock.h"
#include "src/agent/config.h"
#include "src/auth/api_tls.h"
#include "src/auth/cluster_credential.h"
#include "src/net/sealer.h"

namespace starling::cli {
namespace {

// Where an answer's body goes: kept (JSON, or any error), or, for a download that succeeds,
// written to `out` as it comes.
struct Received {
  CURL* curl = nullptr;
  std::string text;
  std::FILE* out = nullptr;
  uint64_t written = 0;
  bool progress = false;
  uint64_t shown = 0;
};

size_t Receive(char* data, size_t size, size_t count, void* into) {
  auto* received = static_cast<Received*>(into);
  const size_t n = size * count;
  long status = 0;
  if (received->out != nullptr) curl_easy_getinfo(received->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    received->text.append(data, n);
    return n;
  }
  if (std::fwrite(data, 1, n, received->out) != n) return 0;  // stdout gone: stop
  received->written += n;
  if (received->progress && received->written - received->shown >= (1u << 20)) {
    received->shown = received->written;
    std::fprintf(stderr, "\rreceived %s   ", Bytes(static_cast<double>(received->written)).c_str());
  }
  return n;
}

// The Authorization header for one request: a token (STARLING_TOKEN, or the file
// STARLING_TOKEN_FILE), else a cluster-key credential (STARLING_KEY_FILE), else none (the node's
// unix socket needs none).
Result<std::string> Authorization(const std::string& method, const std::string& path,
                                  const std::string& body_hash) {
  if (const char* token = std::getenv("STARLING_TOKEN"); token != nullptr && *token != '\0') {
    return "Bearer " + std::string(token);
  }
  if (const char* file = std::getenv("STARLING_TOKEN_FILE"); file != nullptr && *file != '\0') {
    auto token = ReadPrivateFile(file, "the token file");
    if (!token.ok()) return token.status();
    std::string text = *token;
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    if (text.empty())
      return Status::InvalidArgument(std::string("the token file is empty: ") + file);
    return "Bearer " + text;
  }
  if (const char* file = std::getenv("STARLING_KEY_FILE"); file != nullptr && *file != '\0') {
    auto text = ReadPrivateFile(file, "the key file");
    if (!text.ok()) return text.status();
    auto keyring = net::Keyring::Parse(*text);
    if (!keyring.ok()) return keyring.status();
    net::Sealer sealer(std::move(*keyring), 60000, 1 << 20);
    const std::string encoded = path.substr(0, path.find('?'));
    int length = 0;
    char* decoded =
        curl_easy_unescape(nullptr, encoded.c_str(), static_cast<int>(encoded.size()), &length);
    if (decoded == nullptr) return Status::InvalidArgument("cannot decode the path " + encoded);
    const std::string plain(decoded, static_cast<size_t>(length));
    curl_free(decoded);
    return auth::ClusterCredential(sealer, method, plain, body_hash, agent::WallMs());
  }
  return std::string();
}

// What a request sends: a text, or a file read as it goes (an upload, with progress shown as
// sending `what`); and where a download's body goes.
struct Body {
  std::string text;
  std::string file;
  uint64_t file_bytes = 0;
  std::string what = "the image";
  std::FILE* download = nullptr;  // a 200 answer's body is written here, not parsed
};

// The BLAKE2b hash a credential names `body` by (src/auth/cluster_credential.h).
Result<std::string> HashOf(const Body& body) {
  if (body.file.empty()) return auth::BodyHash(body.text);
  std::FILE* in = std::fopen(body.file.c_str(), "rb");
  if (in == nullptr) return Status::NotFound("cannot read " + body.file);
  auth::BodyHasher hasher;
  std::vector<char> buffer(1 << 20);
  while (size_t n = std::fread(buffer.data(), 1, buffer.size(), in)) {
    hasher.Update(std::string_view(buffer.data(), n));
  }
  std::fclose(in);
  return hasher.Hex();
}

int ShowProgress(void* what, curl_off_t, curl_off_t, curl_off_t total, curl_off_t sent) {
  if (total > 0) {
    std::fprintf(stderr, "\rsending %s: %s of %s (%d%%)   ", static_cast<const char*>(what),
                 Bytes(static_cast<double>(sent)).c_str(),
                 Bytes(static_cast<double>(total)).c_str(), static_cast<int>(100 * sent / total));
  }
  return 0;
}

// The CA file beside the node's own socket (DATA_DIR/api-ca.pem), once a call went through it:
// on a node, the CLI trusts the cluster's CA that node wrote when it asks the other members.
std::string& NodeCaFile() {
  static std::string path;
  return path;
}

// Whom an HTTPS call trusts: STARLING_CA_FILE, else the CAs derived from the cluster key
// (STARLING_KEY_FILE), else the node's CA file, else the system's.
Status SetTrust(CURL* curl) {
  if (const char* file = std::getenv("STARLING_CA_FILE"); file != nullptr && *file != '\0') {
    curl_easy_setopt(curl, CURLOPT_CAINFO, file);
    return Status::Ok();
  }
  if (const char* file = std::getenv("STARLING_KEY_FILE"); file != nullptr && *file != '\0') {
    auto text = ReadPrivateFile(file, "the key file");
    if (!text.ok()) return text.status();
    auto keyring = net::Keyring::Parse(*text);
    if (!keyring.ok()) return keyring.status();
    auto bundle = auth::ClusterCaBundle(keyring->keys());
    if (!bundle.ok()) return bundle.status();
    curl_blob pem{bundle->data(), bundle->size(), CURL_BLOB_COPY};
    curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &pem);
    return Status::Ok();
  }
  if (!NodeCaFile().empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, NodeCaFile().c_str());
  return Status::Ok();
}

// What went wrong reaching an agent, with what to do about it.
std::string Unreachable(const std::string& api, CURLcode code) {
  std::string hint = "is `starling agent` running, and is --api right?";
  if (code == CURLE_PEER_FAILED_VERIFICATION) {
    hint =
        "its certificate is not one this CLI trusts: set STARLING_CA_FILE to the cluster's CA "
        "(DATA_DIR/api-ca.pem on a node) or STARLING_KEY_FILE to the cluster key";
  } else if (code == CURLE_SSL_CONNECT_ERROR || code == CURLE_GOT_NOTHING ||
             code == CURLE_RECV_ERROR) {
    hint = "does it serve TLS? --api https://HOST:PORT for TLS, http://HOST:PORT without";
  }
  return "no agent answers at " + api + " (" + curl_easy_strerror(code) + "); " + hint;
}

Result<Json> Perform(const std::string& api, const std::string& method, const std::string& path,
                     const Body& body, const std::vector<std::string>& extra_headers,
                     int read_timeout_s) {
  // "unix:/path/api.sock" is the node's own socket; otherwise an API address (config.h,
  // ParseApiAddress): "https://host:port", "http://host:port", or "host:port" (TLS unless
  // loopback).
  std::string url;
  std::string socket_path;
  bool tls = false;
  if (std::string_view(api).starts_with("unix:")) {
    socket_path = api.substr(5);
    url = "http://localhost" + path;
    NodeCaFile() = (std::filesystem::path(socket_path).parent_path() / "api-ca.pem").string();
  } else {
    auto address = agent::ParseApiAddress(api, "--api");
    if (!address.ok()) return address.status();
    tls = address->tls;
    url = address->Url() + path;
  }
  std::string authorization;
  if (socket_path.empty()) {
    auto hash = HashOf(body);
    if (!hash.ok()) return hash.status();
    auto header = Authorization(method, path, *hash);
    if (!header.ok()) return header.status();
    authorization = *header;
  }
  std::FILE* upload = nullptr;
  if (!body.file.empty()) {
    upload = std::fopen(body.file.c_str(), "rb");
    if (upload == nullptr) return Status::NotFound("cannot read " + body.file);
  }
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    if (upload != nullptr) std::fclose(upload);
    return Status::IoError("cannot start an HTTP client");
  }
  if (tls) {
    if (Status s = SetTrust(curl); !s.ok()) {
      curl_easy_cleanup(curl);
      if (upload != nullptr) std::fclose(upload);
      return s;
    }
  }
  std::string answer;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, upload != nullptr ? "Content-Type: application/octet-stream"
                                                         : "Content-Type: application/json");
  if (!authorization.empty()) {
    headers = curl_slist_append(headers, ("Authorization: " + authorization).c_str());
  }
  for (const auto& header : extra_headers) headers = curl_slist_append(headers, header.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  if (!socket_path.empty()) curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket_path.c_str());
  if (upload != nullptr) {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READDATA, upload);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.file_bytes));
    if (::isatty(STDERR_FILENO)) {
      curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, ShowProgress);
      curl_easy_setopt(curl, CURLOPT_XFERINFODATA, const_cast<char*>(body.what.c_str()));
    }
  } else if (!body.text.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.text.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.text.size()));
  }
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 2L);
  if (body.download != nullptr) {
    // However long a download takes, but not one that stalls for the timeout.
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(read_timeout_s));
  } else {
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(read_timeout_s + 2));
  }
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  Received received{.curl = curl,
                    .out = body.download,
                    .progress = body.download != nullptr && ::isatty(STDERR_FILENO) != 0};
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Receive);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &received);
  const CURLcode done = curl_easy_perform(curl);
  answer = std::move(received.text);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (upload != nullptr) {
    std::fclose(upload);
    if (::isatty(STDERR_FILENO)) std::fprintf(stderr, "\n");
  }
  if (received.progress && received.shown > 0) std::fprintf(stderr, "\n");
  if (body.download != nullptr && status == 200) {
    if (done != CURLE_OK) {
      // The agent closes the connection before the body's end when what it streams fails.
      return Status::IoError(
          fmt::format("the answer stopped after {} ({}); what was written is "
                      "incomplete: see the agent's log",
                      Bytes(static_cast<double>(received.written)), curl_easy_strerror(done)));
    }
    return Json{{"bytes", received.written}};
  }
  if (done != CURLE_OK) {
    return Status::Unavailable(Unreachable(api, done));
  }
  auto parsed = Json::parse(answer, nullptr, false);
  if (status != 200) {
    const bool described =
        parsed.is_object() && parsed.contains("error") && parsed["error"].is_string();
    const std::string error = described ? parsed["error"].get<std::string>() : answer;
    // Every error the agent gives names its kind; anything else (a proxy's page) is an I/O error.
    const StatusCode code = described && parsed.contains("kind") && parsed["kind"].is_string()
                                ? agent::api::KindCode(parsed["kind"].get<std::string>())
                                : StatusCode::kIoError;
    return Status(code == StatusCode::kOk ? StatusCode::kIoError : code,
                  fmt::format("{} (HTTP {})", error, status));
  }
  if (parsed.is_discarded()) return Status::Corruption("the agent answered with invalid JSON");
  return parsed;
}

}  // namespace

Result<Json> Call(const std::string& api, const std::string& method, const std::string& path,
                  const Json& body, int read_timeout_s) {
  Body text;
  text.text = body.is_null() ? (method == "GET" || method == "DELETE" ? "" : "{}") : body.dump();
  return Perform(api, method, path, text, {}, read_timeout_s);
}

Result<Json> Download(const std::string& api, const std::string& path, std::FILE* out,
                      int read_timeout_s) {
  Body body;
  body.download = out;
  return Perform(api, "GET", path, body, {}, read_timeout_s);
}

Result<Json> Upload(const std::string& api, const std::string& path, const std::string& file,
                    const std::vector<std::string>& headers, int read_timeout_s,
                    const std::string& what) {
  std::error_code ec;
  Body body;
  body.file = file;
  body.what = what;
  body.file_bytes = std::filesystem::file_size(file, ec);
  if (ec) return Status::NotFound("cannot read " + file + ": " + ec.message());
  return Perform(api, "POST", path, body, headers, read_timeout_s);
}

Result<Json> EnvObject(const std::vector<std::string>& pairs) {
  Json env = Json::object();
  for (const auto& pair : pairs) {
    const auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument("--env takes NAME=VALUE");
    }
    env[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  return env;
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
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
      return 7;
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

Result<Json> DownloadToFile(const std::string& api, const std::string& path,
                            const std::string& file, int read_timeout_s) {
  const std::string partial = file + ".partial";
  std::FILE* out = std::fopen(partial.c_str(), "wb");
  if (out == nullptr) return Status::IoError("cannot write " + partial);
  auto answer = Download(api, path, out, read_timeout_s);
  const bool closed = std::fclose(out) == 0;
  if (!answer.ok() || !closed) {
    std::remove(partial.c_str());
    return answer.ok() ? Status::IoError("cannot write " + partial) : answer.status();
  }
  std::error_code ec;
  std::filesystem::rename(partial, file, ec);
  if (ec) return Status::IoError("cannot rename " + partial + ": " + ec.message());
  return answer;
}

// Appends the `field` array of `path` on every live member to `all`. With `seen`, asks each for
// what came after the last sequence number seen from it, and remembers the newest.
Status Gather(const Globals& g, const std::string& path, const char* field, Json* all,
              std::map<std::string, uint64_t>* seen) {
  auto members = Call(g.api, "GET", "/v1/members");
  if (!members.ok()) return members.status();
  // The node the CLI talks to is asked the way the CLI reaches it (its unix socket, on a node);
  // the others at their advertised API, with the CLI's credential.
  auto self = Call(g.api, "GET", "/v1/self");
  const std::string self_name = self.ok() ? self->value("name", "") : "";
  for (const auto& member : (*members)["members"]) {
    if (member["status"] != "alive" || !member.contains("api")) continue;
    const std::string name = member["name"].get<std::string>();
    std::string query = path;
    if (seen != nullptr) query += "?after=" + std::to_string((*seen)[name]);
    auto answer = Call(name == self_name ? g.api : member["api"].get<std::string>(), "GET", query);
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
