// src/agent/api/server.h — the HTTP API's plumbing (DESIGN.md §12): routes as tables, each
// handler returning a result that one function turns into an HTTP status and one error body.
//
// Served by GNU libmicrohttpd, a thread per connection: handlers may block there (waiting for
// the io thread or a write's acknowledgement); they never run on the io thread. Nothing a client
// sends can take the node down (docs/SECURITY.md): the connections are bounded in all and per
// client address, a silent connection is closed, headers are bounded by a per-connection memory
// limit, every body by its route's limit (a bigger Content-Length is answered 413 before the body
// is read; a chunked body that grows past it closes the connection), and JSON by depth.
//
// Errors cross the HTTP boundary one way: {"error": "<what to do>", "kind": "<kind>"} with the
// status HttpStatusOf gives the kind. The CLI turns the kind back into its exit code.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "src/agent/config.h"
#include "src/auth/access.h"

namespace starling::agent::api {

using Json = nlohmann::json;

// The HTTP status for an error of `code`.
int HttpStatusOf(StatusCode code);
// The error's kind as the API names it: "invalid_argument", "not_found", ...
std::string_view KindName(StatusCode code);
// The kind named `kind` (unknown names: kIoError).
StatusCode KindCode(std::string_view kind);
// The one error body.
Json ErrorBody(const Status& status);

// Parses a request body that must be a JSON object nested at most `max_depth` deep. Deeper input
// is refused without building it (the parser never recurses; the depth is checked as it goes).
Result<Json> ParseJsonObject(std::string_view text, int max_depth);

enum class Method { kGet, kPost, kPut, kPatch, kDelete };
std::string_view MethodName(Method method);

enum class BodyKind {
  kNone,  // any body is ignored (but still bounded)
  kJson,  // must be a JSON object (else 400); parsed into Request::body
  kRaw,   // handed over as it came (Request::raw)
  kFile,  // written as it comes to a file under ServerOptions::spool_dir (Request::body_file),
          // removed once answered: an upload of up to the route's limit, never in memory
};

struct ServerOptions {
  size_t max_body_bytes = 1u << 20;            // a route's body unless the route says otherwise
  int json_max_depth = 64;                     // nesting of a JSON body
  std::vector<std::string> allowed_hosts;      // Host names besides IP literals and "localhost"
  unsigned max_connections = 256;              // open at once, all clients
  unsigned max_connections_per_client = 32;    // open at once from one address
  unsigned idle_timeout_s = 15;                // a connection silent this long is closed
  size_t connection_memory_bytes = 64u << 10;  // request line and headers, per connection
  std::string spool_dir;  // where BodyKind::kFile bodies are written (0700, created at start)
};

struct Request {
  Method method = Method::kGet;
  std::string path;
  std::vector<std::string> matches;            // the pattern's groups; [0] is the whole path
  std::map<std::string, std::string> params;   // the query string
  std::map<std::string, std::string> headers;  // names in lower case
  std::string peer;                            // the client's address, without the port
  std::string raw;                             // BodyKind::kRaw: the body as it came
  std::string body_file;                       // BodyKind::kFile: where the body was written
  std::string body_hash;                       // hex BLAKE2b-256 of the body, whatever its kind
  Json body = Json::object();                  // BodyKind::kJson: the parsed object
  auth::Principal who;                         // who is calling (set before the handler runs)

  // The pattern's capture `i` (1-based; empty when that group did not match).
  std::string Match(size_t i) const { return i < matches.size() ? matches[i] : std::string(); }
  bool Has(const std::string& param) const { return params.contains(param); }
  std::string Param(const std::string& param) const;
  // A header by its lower-case name; empty when absent.
  std::string Header(const std::string& lower_name) const;
};

// A handler's answer: a JSON body (200), or an error. With Route::text, the body is a JSON
// string served as Prometheus text.
using Handler = std::function<Result<Json>(const Request&)>;

// A body made as it is sent (a database dump), never held whole: Read gives the next bytes and 0
// at the end. An error after the answer began closes the connection before the body's last
// chunk, so the client sees a cut body, never one that looks complete. Read on the
// connection's thread (it may block).
class BodySource {
 public:
  virtual ~BodySource() = default;
  virtual Result<size_t> Read(char* buffer, size_t size) = 0;
};
// A streamed answer (200, application/octet-stream), or an error answered as any other.
using SourceHandler = std::function<Result<std::unique_ptr<BodySource>>(const Request&)>;

// What routes need, by name (auth::Access): the role, and the group naming the site.
inline const auth::Access kRead{auth::Role::kReadonly};
inline const auth::Access kReadSite{auth::Role::kReadonly, 1};
inline const auth::Access kReadSites{auth::Role::kReadonly, 0, /*site_list=*/true};
inline const auth::Access kOperate{auth::Role::kOperator};
inline const auth::Access kOperateSite{auth::Role::kOperator, 1};
inline const auth::Access kAdminOnly{auth::Role::kAdmin};

struct Route {
  Method method;
  std::string pattern;  // a regular expression over the whole path
  auth::Access access;  // checked before the handler runs
  Handler handler;
  BodyKind body = BodyKind::kNone;
  bool text = false;
  size_t max_body_bytes = 0;  // 0: ServerOptions::max_body_bytes
  SourceHandler source;       // set instead of `handler`: the answer is streamed
};

// What goes back to the client.
struct Answer {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::shared_ptr<BodySource> source;  // a streamed body instead of `body`
};

// Who sent a request that came over TCP, from its Authorization header (and
// Request::body_hash); the error is kUnauthenticated. Called on the connections' threads.
using Authenticator = std::function<Result<auth::Principal>(const Request& request)>;

struct Listener;  // a listening socket and the daemon serving it (server.cc)

// The certificate a TCP listener serves TLS with (PEM; the key PKCS#8 or the key's own format).
struct TlsIdentity {
  std::string cert_pem;  // the node's certificate, then any intermediates
  std::string key_pem;
};

class Server {
 public:
  explicit Server(ServerOptions limits = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the TCP listening socket (so a bad address fails the agent's start); with `tls`, it is
  // served over TLS with that certificate. Its requests must carry a credential the
  // authenticator accepts.
  Status Bind(const HostPort& address, std::optional<TlsIdentity> tls = std::nullopt);
  // Binds a unix socket at `path`, mode 0600: whoever can open it (root) is the node's own
  // operator, with no credential. A stale socket file is replaced.
  Status BindLocal(const std::string& path);
  // REQUIRES: before Start.
  void SetAuthenticator(Authenticator authenticate) { authenticate_ = std::move(authenticate); }
  const std::string& spool_dir() const { return options_.spool_dir; }
  // REQUIRES: before Start.
  void Add(std::vector<Route> routes);
  // Serves on threads of its own until Stop. REQUIRES: Bind succeeded.
  Status Start();
  // Stops serving; in-flight requests finish first. Idempotent.
  void Stop();

  // The route for `request`'s method and path, its pattern's groups put in request->matches; null
  // when none, with `*path_known` saying whether another method has that path.
  const Route* Resolve(Request* request, bool* path_known) const;
  // The limit on a body for `route` (the default when null).
  size_t BodyLimitOf(const Route* route) const;
  // Answers a request Resolve has routed (see Dispatch). For a kFile route, `body` is empty and
  // request.body_file names the written body; request.body_hash is set by the caller.
  Answer Serve(const Route* route, bool path_known, Request request, std::string_view body,
               bool local) const;
  // Routes `request` (its method, path, params, headers and body as received) and answers it:
  // the route, the body's size and kind, Host and Origin (over TCP), the credential and what it
  // may do, then the handler. `local`: it came over the unix socket. Thread-safe; used by the
  // connections' threads and by the fuzz target.
  Answer Dispatch(Request request, std::string_view body, bool local) const;

 private:
  ServerOptions options_;
  Authenticator authenticate_;
  struct CompiledRoute;
  std::vector<std::unique_ptr<CompiledRoute>> routes_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::string> local_paths_;
};

}  // namespace starling::agent::api
