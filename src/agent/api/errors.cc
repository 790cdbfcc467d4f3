// The API's one way of saying what went wrong (server.h): status codes, kinds, the error body,
// and the bounded JSON body parser every JSON route shares.
#include "src/agent/api/server.h"

namespace starling::agent::api {

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
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
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
    case StatusCode::kUnauthenticated:
      return "unauthenticated";
    case StatusCode::kPermissionDenied:
      return "permission_denied";
  }
  return "io_error";
}

StatusCode KindCode(std::string_view kind) {
  for (StatusCode code :
       {StatusCode::kOk, StatusCode::kInvalidArgument, StatusCode::kCorruption,
        StatusCode::kNotFound, StatusCode::kAlreadyExists, StatusCode::kUnavailable,
        StatusCode::kTimeout, StatusCode::kResourceExhausted, StatusCode::kIoError,
        StatusCode::kFailedPrecondition, StatusCode::kUnauthenticated,
        StatusCode::kPermissionDenied}) {
    if (KindName(code) == kind) return code;
  }
  return StatusCode::kIoError;
}

Json ErrorBody(const Status& status) {
  return {{"error", status.message()}, {"kind", KindName(status.code())}};
}

Result<Json> ParseJsonObject(std::string_view text, int max_depth) {
  bool too_deep = false;
  // nlohmann's parser keeps its own stack (it never recurses); the callback sees each value's
  // depth as it starts, and a value refused there is skipped rather than built.
  const Json::parser_callback_t limit = [&too_deep, max_depth](int depth, Json::parse_event_t,
                                                               Json&) {
    if (depth > max_depth) too_deep = true;
    return !too_deep;
  };
  Json parsed = Json::parse(text, limit, /*allow_exceptions=*/false);
  if (too_deep) {
    return Status::InvalidArgument("the request body is nested more than " +
                                   std::to_string(max_depth) + " deep");
  }
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Status::InvalidArgument("the request body must be a JSON object");
  }
  return parsed;
}

std::string_view MethodName(Method method) {
  switch (method) {
    case Method::kGet:
      return "GET";
    case Method::kPost:
      return "POST";
    case Method::kPut:
      return "PUT";
    case Method::kPatch:
      return "PATCH";
    case Method::kDelete:
      return "DELETE";
  }
  return "GET";
}

}  // namespace starling::agent::api
