// src/auth: tokens, who may do what, and the browser checks — pure functions, table-driven.
#include "src/auth/token.h"

#include <catch2/catch.hpp>

#include "src/auth/access.h"

namespace starling::auth {
namespace {

TEST_CASE("tokens: issued, parsed, verified; the record keeps no secret", "[unit]") {
  const Issued issued = IssueToken("ci", Role::kOperator, "shop", 1234, "admin");
  auto presented = ParseToken(issued.token);
  REQUIRE(presented.ok());
  CHECK(presented->name == "ci");
  CHECK(Verifies(issued.record, presented->secret));
  std::string wrong = presented->secret;
  wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
  CHECK_FALSE(Verifies(issued.record, wrong));
  const std::string encoded = issued.record.Encode();
  CHECK(encoded.find(presented->secret) == std::string::npos);
  auto decoded = TokenRecord::Decode("ci", encoded);
  REQUIRE(decoded.ok());
  CHECK(decoded->role == Role::kOperator);
  CHECK(decoded->site == "shop");
  CHECK(Verifies(*decoded, presented->secret));
  // Two tokens for one name differ.
  CHECK(IssueToken("ci", Role::kOperator, "", 0, "").token != issued.token);

  for (const char* bad :
       {"", "stk.", "stk.ci", "Bearer x", "stk.c i.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "stk.ci.short", "xyz.ci.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}) {
    INFO(bad);
    CHECK(ParseToken(bad).status().code() == StatusCode::kUnauthenticated);
  }
  CHECK(TokenRecord::Decode("x", "not json").status().code() == StatusCode::kCorruption);
  CHECK(TokenRecord::Decode("x", R"({"role":"god","site":"","hash":""})").status().code() ==
        StatusCode::kCorruption);
}

TEST_CASE("access: roles include the ones below; a site's token keeps to its site", "[unit]") {
  const Principal admin{"a", Role::kAdmin, "", Source::kToken};
  const Principal ops{"o", Role::kOperator, "", Source::kToken};
  const Principal reader{"r", Role::kReadonly, "", Source::kToken};
  const Principal customer{"c", Role::kOperator, "shop", Source::kToken};
  const Access read{Role::kReadonly}, operate{Role::kOperator}, admin_only{Role::kAdmin};
  const Access operate_site{Role::kOperator, 1}, read_site{Role::kReadonly, 1};
  const Access listing{Role::kReadonly, 0, true};
  struct Case {
    const Principal& who;
    const Access& access;
    const char* site;
    bool allowed;
  };
  for (const Case& c : std::vector<Case>{{admin, admin_only, "", true},
                                         {ops, admin_only, "", false},
                                         {ops, operate, "", true},
                                         {reader, operate, "", false},
                                         {reader, read, "", true},
                                         {reader, read_site, "blog", true},
                                         {customer, operate_site, "shop", true},
                                         {customer, operate_site, "blog", false},
                                         {customer, read_site, "shop", true},
                                         {customer, operate, "", false},
                                         {customer, read, "", false},
                                         {customer, listing, "", true},
                                         {customer, admin_only, "", false}}) {
    INFO(c.who.name << " " << RoleName(c.access.role) << " " << c.site);
    const Status s = Allows(c.who, c.access, c.site);
    CHECK(s.ok() == c.allowed);
    if (!c.allowed) CHECK(s.code() == StatusCode::kPermissionDenied);
  }
}

TEST_CASE("browser headers: Host names this node, Origin matches it", "[unit]") {
  const std::vector<std::string> names = {"node1.example.net"};
  struct Case {
    const char* host;
    const char* origin;
    bool ok;
  };
  for (const Case& c : std::vector<Case>{{"127.0.0.1:7947", "", true},
                                         {"[::1]:7947", "", true},
                                         {"localhost:7947", "", true},
                                         {"node1.example.net:7947", "", true},
                                         {"evil.example:7947", "", false},
                                         {"127.0.0.1:7947", "http://127.0.0.1:7947", true},
                                         {"127.0.0.1:7947", "http://evil.example", false},
                                         {"127.0.0.1:7947", "null", false},
                                         {"", "", true}}) {
    INFO(c.host << " " << c.origin);
    CHECK(CheckBrowserHeaders(c.host, c.origin, names).ok() == c.ok);
  }
}

}  // namespace
}  // namespace starling::auth
