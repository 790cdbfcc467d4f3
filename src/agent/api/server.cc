#include "src/agent/api/server.h"

namespace starling::agent::api {
namespace {

void Reply(httplib::Response& response, int status, const Json& body) {
  response.status = status;
  response.set_content(body.dump(2, ' ', false, Json::error_handler_t::replace) + "\n",
                       "application/json");
}

void Serve(const Route& route, const httplib::Request& http, httplib::Response& response) {
  Request request{http};
  if (route.body == BodyKind::kJson) {
    auto body = Json::parse(http.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) {
      Reply(response, 400,
            ErrorBody(Status::InvalidArgument("the request body must be a JSON object")));
      return;
    }
    request.body = std::move(body);
  }
  Result<Json> answer = route.handler(request);
  if (!answer.ok()) {
    Reply(response, HttpStatusOf(answer.status().code()), ErrorBody(answer.status()));
    return;
  }
  if (route.text) {
    response.status = 200;
    response.set_content(answer->get<std::string>(), "text/plain; version=0.0.4");
    return;
  }
  Reply(response, 200, *answer);
}

}  // namespace

int HttpStatusOf(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
      return 409;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kTimeout:
      return 504;
    case StatusCode::kCorruption:
    case StatusCode::kIoError:
      return 500;
  }
  return 500;
}

std::string_view KindName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kCorruption:
      return "corruption";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kAlreadyExists:
      return "already_exists";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kTimeout:
      return "timeout";
    case StatusCode::kResourceExhausted:
      return "resource_exhausted";
    case StatusCode::kIoError:
      return "io_error";
    case StatusCode::kFailedPrecondition:
      return "failed_precondition";
  }
  return "io_error";
}

StatusCode KindCode(std::string_view kind) {
  for (StatusCode code :
       {StatusCode::kOk, StatusCode::kInvalidArgument, StatusCode::kCorruption,
        StatusCode::kNotFound, StatusCode::kAlreadyExists, StatusCode::kUnavailable,
        StatusCode::kTimeout, StatusCode::kResourceExhausted, StatusCode::kIoError,
        StatusCode::kFailedPrecondition}) {
    if (KindName(code) == kind) return code;
  }
  return StatusCode::kIoError;
}

Json ErrorBody(const Status& status) {
  return {{"error", status.message()}, {"kind", KindName(status.code())}};
}

std::string Request::Match(size_t i) const {
  return i < http.matches.size() ? std::string(http.matches[i]) : std::string();
}

Server::Server() {
  // Small responses go out at once: with Nagle on, a body written after its headers waits for
  // the client's delayed ACK (40 ms on Linux). Set before binding: accepted sockets inherit it.
  http_.set_tcp_nodelay(true);
  http_.set_exception_handler(
      [](const httplib::Request&, httplib::Response& response, std::exception_ptr) {
        Reply(response, 500, ErrorBody(Status::IoError("internal error")));
      });
  http_.set_error_handler([](const httplib::Request&, httplib::Response& response) {
    if (response.status == 404 && response.body.empty()) {
      Reply(response, 404, ErrorBody(Status::NotFound("no such route")));
    }
  });
}

Status Server::Bind(const HostPort& address) {
  if (!http_.bind_to_port(address.host, address.port)) {
    return Status::Unavailable("cannot bind the HTTP API to " + address.ToString());
  }
  return Status::Ok();
}

void Server::Add(std::vector<Route> routes) {
  for (auto& route : routes) {
    auto handler = [route](const httplib::Request& http, httplib::Response& response) {
      Serve(route, http, response);
    };
    switch (route.method) {
      case Method::kGet:
        http_.Get(route.pattern, handler);
        break;
      case Method::kPost:
        http_.Post(route.pattern, handler);
        break;
      case Method::kPut:
        http_.Put(route.pattern, handler);
        break;
      case Method::kPatch:
        http_.Patch(route.pattern, handler);
        break;
      case Method::kDelete:
        http_.Delete(route.pattern, handler);
        break;
    }
  }
}

void Server::Run() { http_.listen_after_bind(); }

void Server::Stop() { http_.stop(); }

}  // namespace starling::agent::api
