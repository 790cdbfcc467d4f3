// src/agent/api/server.h — the HTTP API's plumbing (DESIGN.md §12): routes as tables, each
// handler returning a result that one function turns into an HTTP status and one error body.
// Handlers run on the HTTP server's threads and may block there (waiting for the io thread or a
// write's acknowledgement); they never run on the io thread.
//
// Errors cross the HTTP boundary one way: {"error": "<what to do>", "kind": "<kind>"} with the
// status HttpStatusOf gives the kind. The CLI turns the kind back into its exit code.
#pragma once

#include <httplib.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "src/agent/config.h"

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

enum class Method { kGet, kPost, kPut, kPatch, kDelete };
enum class BodyKind {
  kNone,  // any body is ignored
  kJson,  // must be a JSON object (else 400); parsed into Request::body
  kRaw,   // handed over as it came (Request::http.body)
};

struct Request {
  const httplib::Request& http;
  Json body = Json::object();  // BodyKind::kJson: the parsed object
  // The pattern's capture `i` (1-based; empty when that group did not match).
  std::string Match(size_t i) const;
  bool Has(const std::string& param) const { return http.has_param(param); }
  std::string Param(const std::string& param) const { return http.get_param_value(param); }
};

// A handler's answer: a JSON body (200), or an error. With Route::text, the body is a JSON
// string served as Prometheus text.
using Handler = std::function<Result<Json>(const Request&)>;

struct Route {
  Method method;
  std::string pattern;  // a regular expression over the path
  Handler handler;
  BodyKind body = BodyKind::kNone;
  bool text = false;
};

class Server {
 public:
  Server();
  // Binds the listening socket (so a bad address fails the agent's start).
  Status Bind(const HostPort& address);
  void Add(std::vector<Route> routes);
  // Serves until Stop. Blocking: run it on a thread of its own.
  void Run();
  void Stop();

 private:
  httplib::Server http_;
};

}  // namespace starling::agent::api
