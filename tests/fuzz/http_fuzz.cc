// libFuzzer target for the HTTP API's request handling above libmicrohttpd's framing: routing by
// method and path, body limits and kinds, Host and Origin checks, credentials (tokens and the
// cluster key) and what each role may do, the JSON depth limit, and the site spec a body
// describes. Build: cmake -DSTARLING_FUZZ=ON with clang; run: fuzz_http -max_total_time=60 corpus/
//
// An input is a request as text: "METHOD PATH[?QUERY]" on the first line, then "Name: value"
// header lines, an empty line, and the body. In the Authorization header, "$ADMIN" and "$SHOP"
// stand for a real admin token and a real operator token for site "shop" (the fuzzer could never
// guess one), so inputs get past authentication; a first line starting "LOCAL " comes over the
// node's unix socket. The agent's real route tables are served, each handler replaced by one
// that checks what must hold when a handler runs: the caller may use the route, a JSON body is an
// object within the depth limit, and the site spec it describes is checked without throwing.
#include <asio.hpp>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "base/status.h"
#include "src/agent/api/context.h"
#include "src/auth/token.h"
#include "src/net/sealer.h"
#include "src/sites/site.h"

namespace {

using namespace starling;
using namespace starling::agent;

int Depth(const api::Json& value) {
  int deepest = 0;
  if (value.is_structured()) {
    for (const auto& child : value) deepest = std::max(deepest, Depth(child));
    return deepest + 1;
  }
  return 0;
}

struct Fixture {
  AgentConfig config;
  asio::io_context io;
  net::Sealer sealer{net::Keyring({net::Keyring::Generate()}), 60000, 1 << 20};
  api::Context context{config,  io,      nullptr, nullptr, nullptr, nullptr,
                       nullptr, nullptr, &sealer, nullptr, {}};
  api::Server server;
  std::map<std::string, auth::TokenRecord> tokens;
  std::string admin;
  std::string shop;

  Fixture() {
    auto admin_token = auth::IssueToken("root", auth::Role::kAdmin, "", 1, "fuzz");
    auto shop_token = auth::IssueToken("shopkeeper", auth::Role::kOperator, "shop", 1, "fuzz");
    admin = admin_token.token;
    shop = shop_token.token;
    tokens.emplace(admin_token.record.name, admin_token.record);
    tokens.emplace(shop_token.record.name, shop_token.record);
    server.SetAuthenticator(api::MakeAuthenticator(
        sealer, [this](const std::string& name) -> Result<std::optional<auth::TokenRecord>> {
          auto it = tokens.find(name);
          if (it == tokens.end()) return std::optional<auth::TokenRecord>();
          return std::optional<auth::TokenRecord>(it->second);
        }));
    std::vector<api::Route> all;
    for (auto table : {api::SiteRoutes, api::ReleaseRoutes, api::ImageRoutes, api::StackRoutes,
                       api::CopyRoutes, api::ClusterRoutes, api::BalancerRoutes, api::KeyRoutes,
                       api::MetricRoutes, api::TokenRoutes, api::DbRoutes}) {
      for (api::Route& route : table(context)) all.push_back(std::move(route));
    }
    for (api::Route& route : all) {
      route.handler = [access = route.access,
                       kind = route.body](const api::Request& request) -> Result<api::Json> {
        const std::string site = access.site_group == 0 ? "" : request.Match(access.site_group);
        STARLING_CHECK(auth::Allows(request.who, access, site).ok());
        if (kind == api::BodyKind::kJson) {
          STARLING_CHECK(request.body.is_object());
          STARLING_CHECK(Depth(request.body) <= 64);
          // The site spec a body describes: judged without throwing (the server would turn a
          // type_error into a 400 and hide it).
          Result<sites::Site> spec = Status::InvalidArgument("not judged");
          try {
            spec = sites::Apply(sites::Site(), request.body, /*create=*/true);
          } catch (...) {
            STARLING_CHECK(false && "sites::Apply threw");
          }
          if (spec.ok()) return api::Json{{"site", spec->name}};
        }
        return api::Json::object();
      };
    }
    server.Add(std::move(all));
  }
};

Fixture& Fixed() {
  static Fixture fixture;
  return fixture;
}

std::string Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) text.remove_suffix(1);
  return std::string(text);
}

// The next line of `text` (without its '\n'), consumed.
std::string_view Line(std::string_view* text) {
  const size_t end = text->find('\n');
  const std::string_view line = text->substr(0, end);
  text->remove_prefix(end == std::string_view::npos ? text->size() : end + 1);
  return line;
}

void Substitute(std::string* value, std::string_view name, const std::string& token) {
  for (size_t at = value->find(name); at != std::string::npos; at = value->find(name)) {
    value->replace(at, name.size(), token);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& fixture = Fixed();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string_view first = Line(&text);
  const bool local = first.starts_with("LOCAL ");
  if (local) first.remove_prefix(6);
  const size_t space = first.find(' ');
  if (space == std::string_view::npos) return 0;
  const std::string_view method = first.substr(0, space);
  std::string_view target = first.substr(space + 1);
  api::Request request;
  if (method == "GET") {
    request.method = api::Method::kGet;
  } else if (method == "POST") {
    request.method = api::Method::kPost;
  } else if (method == "PUT") {
    request.method = api::Method::kPut;
  } else if (method == "PATCH") {
    request.method = api::Method::kPatch;
  } else if (method == "DELETE") {
    request.method = api::Method::kDelete;
  } else {
    return 0;  // libmicrohttpd's handler answers other methods before routing
  }
  const size_t question = target.find('?');
  request.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) {
    std::string_view query = target.substr(question + 1);
    while (!query.empty()) {
      const size_t amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      const size_t equals = pair.find('=');
      request.params[std::string(pair.substr(0, equals))] =
          equals == std::string_view::npos ? "" : std::string(pair.substr(equals + 1));
      query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    }
  }
  request.peer = "127.0.0.1";
  for (std::string_view line = Line(&text); !Trim(line).empty(); line = Line(&text)) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name = Trim(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = Trim(line.substr(colon + 1));
    Substitute(&value, "$ADMIN", fixture.admin);
    Substitute(&value, "$SHOP", fixture.shop);
    request.headers[name] = value;
  }
  const api::Answer answer = fixture.server.Dispatch(std::move(request), text, local);
  // Every answer is one the API documents, and every error has the one error body.
  STARLING_CHECK(answer.status == 200 || answer.status == 400 || answer.status == 401 ||
                 answer.status == 403 || answer.status == 404 || answer.status == 405 ||
                 answer.status == 409 || answer.status == 413 || answer.status == 415);
  if (answer.status != 200) {
    const api::Json body = api::Json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
    STARLING_CHECK(body.is_object() && body.contains("error") && body.contains("kind"));
  }
  return 0;
}
