// The API's HTTP server on GNU libmicrohttpd (server.h): the limits, the routing, and the one
// place an answer is written.
#include "src/agent/api/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <regex>

#include "src/auth/cluster_credential.h"

namespace starling::agent::api {

struct Server::CompiledRoute {
  Route route;
  std::regex pattern;
};

// What MHD's callbacks are given: the server, and whether this is the node's unix socket.
struct Listener {
  const Server* server;
  bool local;
  int fd = -1;
  MHD_Daemon* daemon = nullptr;
  std::optional<TlsIdentity> tls;  // kept while the daemon runs: MHD reads it from here
};

namespace {

Answer JsonAnswer(int status, const Json& body) {
  return {status, "application/json",
          body.dump(2, ' ', false, Json::error_handler_t::replace) + "\n"};
}

Answer ErrorAnswer(int status, const Status& error) { return JsonAnswer(status, ErrorBody(error)); }

std::optional<Method> ParseMethod(std::string_view name) {
  for (Method method :
       {Method::kGet, Method::kPost, Method::kPut, Method::kPatch, Method::kDelete}) {
    if (MethodName(method) == name) return method;
  }
  return std::nullopt;
}

// What one request gathers across the access handler's calls.
struct Pending {
  Request request;
  const Route* route = nullptr;  // null: no route has this method and path
  bool path_known = false;
  std::string body;   // in memory, unless the route spools it
  int spool_fd = -1;  // BodyKind::kFile: the file the body goes to
  size_t received = 0;
  size_t limit = 0;
  bool refused = false;  // answered before its body came
  auth::BodyHasher hash;

  Pending() = default;
  ~Pending() {
    if (spool_fd >= 0) ::close(spool_fd);
    if (!request.body_file.empty()) ::unlink(request.body_file.c_str());
  }
  Pending(const Pending&) = delete;
  Pending& operator=(const Pending&) = delete;

  // Starts the file a kFile body is written to; false when it cannot be made.
  bool Spool(const std::string& dir) {
    std::string path = dir + "/upload-XXXXXX";
    spool_fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (spool_fd < 0) return false;
    request.body_file = path;
    return true;
  }
  // Takes the next piece of the body; false when it cannot be kept.
  bool Take(const char* data, size_t size) {
    hash.Update(std::string_view(data, size));
    received += size;
    if (spool_fd < 0) {
      body.append(data, size);
      return true;
    }
    while (size > 0) {
      const ssize_t n = ::write(spool_fd, data, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  }
};

std::string PeerOf(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (info == nullptr || info->client_addr == nullptr) return "";
  char text[INET6_ADDRSTRLEN] = {};
  const sockaddr* address = info->client_addr;
  if (address->sa_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, text,
                sizeof text);
  } else if (address->sa_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, text,
                sizeof text);
  } else if (address->sa_family == AF_UNIX) {
    return "unix";
  }
  return text;
}

MHD_Result Collect(void* into, MHD_ValueKind, const char* key, const char* value) {
  auto* map = static_cast<std::map<std::string, std::string>*>(into);
  map->emplace(key == nullptr ? "" : key, value == nullptr ? "" : value);
  return MHD_YES;
}

MHD_Result CollectHeader(void* into, MHD_ValueKind, const char* key, const char* value) {
  auto* map = static_cast<std::map<std::string, std::string>*>(into);
  std::string name = key == nullptr ? "" : key;
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  map->emplace(std::move(name), value == nullptr ? "" : value);
  return MHD_YES;
}

// A streamed answer's next bytes (MHD's content reader, on the connection's thread).
ssize_t ReadSource(void* cls, uint64_t, char* buffer, size_t size) {
  auto* source = static_cast<std::shared_ptr<BodySource>*>(cls);
  auto got = (*source)->Read(buffer, size);
  if (!got.ok()) {
    spdlog::error("http: a streamed answer stopped: {}", got.status().ToString());
    return MHD_CONTENT_READER_END_WITH_ERROR;  // no last chunk: the client sees it cut
  }
  if (*got == 0) return MHD_CONTENT_READER_END_OF_STREAM;
  return static_cast<ssize_t>(*got);
}

void FreeSource(void* cls) { delete static_cast<std::shared_ptr<BodySource>*>(cls); }

MHD_Result Send(MHD_Connection* connection, const Answer& answer) {
  MHD_Response* response = nullptr;
  if (answer.source) {
    auto* holder = new std::shared_ptr<BodySource>(answer.source);
    response = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, ReadSource, holder,
                                                 FreeSource);
    if (response == nullptr) delete holder;
  } else {
    response = MHD_create_response_from_buffer(
        answer.body.size(), const_cast<char*>(answer.body.data()), MHD_RESPMEM_MUST_COPY);
  }
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, answer.content_type.c_str());
  const MHD_Result queued =
      MHD_queue_response(connection, static_cast<unsigned>(answer.status), response);
  MHD_destroy_response(response);
  return queued;
}

MHD_Result OnRequest(void* cls, MHD_Connection* connection, const char* url, const char* method,
                     const char*, const char* upload_data, size_t* upload_data_size, void** state) {
  const auto* listener = static_cast<const Listener*>(cls);
  const Server* server = listener->server;
  auto* pending = static_cast<Pending*>(*state);
  if (pending == nullptr) {
    // The first call: headers are in, no body yet.
    pending = new Pending();
    *state = pending;
    auto parsed = ParseMethod(method == nullptr ? "" : method);
    if (!parsed) {
      pending->refused = true;
      return Send(connection,
                  ErrorAnswer(405, Status::InvalidArgument("the API takes GET, POST, PUT, "
                                                           "PATCH and DELETE")));
    }
    Request& request = pending->request;
    request.method = *parsed;
    request.path = url == nullptr ? "" : url;
    request.peer = PeerOf(connection);
    MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, Collect, &request.params);
    MHD_get_connection_values(connection, MHD_HEADER_KIND, CollectHeader, &request.headers);
    pending->route = server->Resolve(&request, &pending->path_known);
    pending->limit = server->BodyLimitOf(pending->route);
    const std::string length = request.Header("content-length");
    if (!length.empty()) {
      char* end = nullptr;
      errno = 0;
      const unsigned long long declared = std::strtoull(length.c_str(), &end, 10);
      if (errno != 0 || *end != '\0' || declared > pending->limit) {
        pending->refused = true;  // answered now; MHD closes the connection after it
        return Send(
            connection,
            ErrorAnswer(413, Status::InvalidArgument("the request body is over " +
                                                     std::to_string(pending->limit) + " bytes")));
      }
      if (pending->route == nullptr || pending->route->body != BodyKind::kFile) {
        pending->body.reserve(declared);
      }
    }
    // Only a body that may come is given a file.
    if (pending->route != nullptr && pending->route->body == BodyKind::kFile &&
        !pending->Spool(server->spool_dir())) {
      pending->refused = true;
      return Send(connection,
                  ErrorAnswer(503, Status::Unavailable("cannot make room for an upload: " +
                                                       std::string(std::strerror(errno)))));
    }
    return MHD_YES;
  }
  if (pending->refused) {
    *upload_data_size = 0;  // answered already: what still comes is dropped
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    if (pending->received + *upload_data_size > pending->limit) {
      return MHD_NO;  // a chunked body past the limit: too late for an answer, close
    }
    if (!pending->Take(upload_data, *upload_data_size)) return MHD_NO;  // disk full: close
    *upload_data_size = 0;
    return MHD_YES;
  }
  pending->request.body_hash = pending->hash.Hex();
  if (pending->spool_fd >= 0) {
    ::close(pending->spool_fd);
    pending->spool_fd = -1;
  }
  const std::string spooled = pending->request.body_file;
  Answer answer = server->Serve(pending->route, pending->path_known, std::move(pending->request),
                                pending->body, listener->local);
  // Served: the upload is gone before the answer is (no file outlives its request).
  if (!spooled.empty()) ::unlink(spooled.c_str());
  return Send(connection, answer);
}

void OnCompleted(void*, MHD_Connection*, void** state, MHD_RequestTerminationCode) {
  delete static_cast<Pending*>(*state);
  *state = nullptr;
}

void LogFromMhd(void*, const char* format, va_list args) {
  char line[512];
  std::vsnprintf(line, sizeof line, format, args);
  std::string text = line;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  spdlog::debug("http: {}", text);
}

}  // namespace

std::string Request::Param(const std::string& param) const {
  auto it = params.find(param);
  return it == params.end() ? std::string() : it->second;
}

std::string Request::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

Server::Server(ServerOptions options) : options_(std::move(options)) {}

Server::~Server() {
  Stop();
  for (const auto& listener : listeners_) {
    if (listener->fd >= 0) ::close(listener->fd);
  }
}

Status Server::Bind(const HostPort& address, std::optional<TlsIdentity> tls) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (::inet_pton(AF_INET, address.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(address.port);
    length = sizeof *v4;
  } else if (::inet_pton(AF_INET6, address.host.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(address.port);
    length = sizeof *v6;
  } else {
    return Status::InvalidArgument("the API address must be an IP address: " + address.host);
  }
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IoError(std::string("socket: ") + std::strerror(errno));
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0 || ::listen(fd, 128) != 0) {
    const int error = errno;
    ::close(fd);
    return Status::Unavailable("cannot bind the HTTP API to " + address.ToString() + ": " +
                               std::strerror(error));
  }
  listeners_.push_back(
      std::make_unique<Listener>(Listener{this, false, fd, nullptr, std::move(tls)}));
  return Status::Ok();
}

Status Server::BindLocal(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    return Status::InvalidArgument("the API socket path must be 1-107 bytes: " + path);
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IoError(std::string("socket: ") + std::strerror(errno));
  ::unlink(path.c_str());  // a stale socket from a run that did not stop cleanly
  // Created 0600 from the start: no moment when another user could connect.
  const mode_t old_mask = ::umask(0177);
  const int bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::umask(old_mask);
  if (bound != 0 || ::listen(fd, 64) != 0) {
    const int error = errno;
    ::close(fd);
    return Status::Unavailable("cannot bind the API socket " + path + ": " + std::strerror(error));
  }
  listeners_.push_back(std::make_unique<Listener>(Listener{this, true, fd, nullptr}));
  local_paths_.push_back(path);
  return Status::Ok();
}

void Server::Add(std::vector<Route> routes) {
  for (auto& route : routes) {
    auto compiled = std::make_unique<CompiledRoute>();
    compiled->pattern = std::regex(route.pattern);
    compiled->route = std::move(route);
    routes_.push_back(std::move(compiled));
  }
}

Status Server::Start() {
  if (listeners_.empty()) return Status::FailedPrecondition("the HTTP API is not bound");
  if (!options_.spool_dir.empty()) {
    // Uploads are written here: the agent's own, nobody else's.
    std::error_code ec;
    std::filesystem::create_directories(options_.spool_dir, ec);
    if (ec || ::chmod(options_.spool_dir.c_str(), 0700) != 0) {
      return Status::IoError("cannot make the upload directory " + options_.spool_dir);
    }
    // What a run that did not stop cleanly left there.
    for (const auto& entry : std::filesystem::directory_iterator(options_.spool_dir, ec)) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
  for (const auto& listener : listeners_) {
    const unsigned per_client = listener->local ? 0u : options_.max_connections_per_client;
    auto number = [](MHD_OPTION option, intptr_t value) {
      return MHD_OptionItem{option, value, nullptr};
    };
    std::vector<MHD_OptionItem> options = {
        number(MHD_OPTION_LISTEN_SOCKET, listener->fd),
        number(MHD_OPTION_CONNECTION_LIMIT, options_.max_connections),
        number(MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_client),
        number(MHD_OPTION_CONNECTION_TIMEOUT, options_.idle_timeout_s),
        number(MHD_OPTION_CONNECTION_MEMORY_LIMIT,
               static_cast<intptr_t>(options_.connection_memory_bytes)),
        {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&OnCompleted), nullptr},
        {MHD_OPTION_EXTERNAL_LOGGER, reinterpret_cast<intptr_t>(&LogFromMhd), nullptr}};
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (listener->tls) {
      flags |= MHD_USE_TLS;
      options.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, listener->tls->cert_pem.data()});
      options.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, listener->tls->key_pem.data()});
    }
    options.push_back({MHD_OPTION_END, 0, nullptr});
    listener->daemon = MHD_start_daemon(flags, 0, nullptr, nullptr, OnRequest, listener.get(),
                                        MHD_OPTION_ARRAY, options.data(), MHD_OPTION_END);
    if (listener->daemon == nullptr) {
      return Status::IoError(listener->tls ? "the HTTP API did not start with its TLS certificate "
                                             "(see the log above)"
                                           : "the HTTP API did not start");
    }
  }
  return Status::Ok();
}

void Server::Stop() {
  // MHD stops accepting, then waits for each connection's thread; the listening sockets are ours.
  for (const auto& listener : listeners_) {
    if (listener->daemon == nullptr) continue;
    MHD_Daemon* daemon = listener->daemon;
    listener->daemon = nullptr;
    MHD_stop_daemon(daemon);
  }
  for (const auto& path : local_paths_) ::unlink(path.c_str());
  local_paths_.clear();
}

const Route* Server::Resolve(Request* request, bool* path_known) const {
  *path_known = false;
  std::smatch match;
  for (const auto& compiled : routes_) {
    if (!std::regex_match(request->path, match, compiled->pattern)) continue;
    *path_known = true;
    if (compiled->route.method != request->method) continue;
    request->matches.clear();
    for (const auto& group : match) request->matches.push_back(group.matched ? group.str() : "");
    return &compiled->route;
  }
  return nullptr;
}

size_t Server::BodyLimitOf(const Route* route) const {
  if (route == nullptr || route->max_body_bytes == 0) return options_.max_body_bytes;
  return route->max_body_bytes;
}

Answer Server::Dispatch(Request request, std::string_view body, bool local) const {
  request.body_hash = auth::BodyHash(body);
  bool path_known = false;
  const Route* route = Resolve(&request, &path_known);
  return Serve(route, path_known, std::move(request), body, local);
}

Answer Server::Serve(const Route* route, bool path_known, Request request, std::string_view body,
                     bool local) const {
  if (route == nullptr) {
    if (path_known) {
      return ErrorAnswer(405, Status::InvalidArgument(std::string(MethodName(request.method)) +
                                                      " is not allowed on " + request.path));
    }
    return ErrorAnswer(404, Status::NotFound("no such route"));
  }
  const size_t limit = BodyLimitOf(route);
  if (body.size() > limit) {  // (a spooled body was held to the limit as it came)
    return ErrorAnswer(413, Status::InvalidArgument("the request body is over " +
                                                    std::to_string(limit) + " bytes"));
  }
  if (local) {
    request.who = {"local", auth::Role::kAdmin, "", auth::Source::kLocal};
  } else {
    if (Status s = auth::CheckBrowserHeaders(request.Header("host"), request.Header("origin"),
                                             options_.allowed_hosts);
        !s.ok()) {
      return ErrorAnswer(403, s);
    }
    if (!authenticate_)
      return ErrorAnswer(401, Status::Unauthenticated("no credential is accepted"));
    auto who = authenticate_(request);
    if (!who.ok()) return ErrorAnswer(401, who.status());
    request.who = std::move(*who);
  }
  const std::string site =
      route->access.site_group == 0 ? "" : request.Match(route->access.site_group);
  if (Status s = auth::Allows(request.who, route->access, site); !s.ok()) {
    return ErrorAnswer(403, s);
  }
  if (route->body == BodyKind::kJson) {
    // A browser's form or text/plain post (no preflight) is never taken for JSON.
    const std::string type = request.Header("content-type");
    if (!body.empty() && !type.starts_with("application/json")) {
      return ErrorAnswer(415, Status::InvalidArgument("send the body as Content-Type: "
                                                      "application/json"));
    }
    auto parsed = ParseJsonObject(body, options_.json_max_depth);
    if (!parsed.ok()) return ErrorAnswer(400, parsed.status());
    request.body = std::move(*parsed);
  } else if (route->body == BodyKind::kRaw) {
    request.raw = std::string(body);
  }
  Result<Json> answer = Status::IoError("internal error");
  try {
    if (route->source) {
      auto source = route->source(request);
      if (!source.ok()) {
        return ErrorAnswer(HttpStatusOf(source.status().code()), source.status());
      }
      return {200, "application/octet-stream", "", std::shared_ptr<BodySource>(std::move(*source))};
    }
    answer = route->handler(request);
  } catch (const Json::type_error& e) {
    // A body field of the wrong type (a number where a name goes): the client's mistake. Logged,
    // since a handler reading stored JSON could throw the same.
    spdlog::warn("http: {} {}: {}", MethodName(request.method), request.path, e.what());
    return ErrorAnswer(400, Status::InvalidArgument(std::string("a field of the request body has "
                                                                "the wrong type: ") +
                                                    e.what()));
  } catch (const std::exception& e) {
    spdlog::error("http: {} {} threw: {}", MethodName(request.method), request.path, e.what());
    return ErrorAnswer(500, Status::IoError("internal error"));
  }
  if (!answer.ok()) {
    return ErrorAnswer(HttpStatusOf(answer.status().code()), answer.status());
  }
  if (route->text) {
    if (!answer->is_string()) return ErrorAnswer(500, Status::IoError("internal error"));
    return {200, "text/plain; version=0.0.4", answer->get<std::string>()};
  }
  return JsonAnswer(200, *answer);
}

}  // namespace starling::agent::api
