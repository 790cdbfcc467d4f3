// [unit] tests of the site resource: validation says exactly what is wrong.
#include "src/sites/site.h"

#include <catch2/catch.hpp>

namespace starling::sites {
namespace {

using json = nlohmann::json;

TEST_CASE("site names and domains are validated", "[unit]") {
  CHECK(ValidateName("shop").ok());
  CHECK(ValidateName("my-shop-2").ok());
  CHECK_FALSE(ValidateName("").ok());
  CHECK_FALSE(ValidateName("Shop").ok());
  CHECK_FALSE(ValidateName("2shop").ok());
  CHECK_FALSE(ValidateName("shop-").ok());
  CHECK_FALSE(ValidateName("sh_op").ok());
  CHECK_FALSE(ValidateName("../etc").ok());
  CHECK_FALSE(ValidateName(std::string(64, 'a')).ok());
  CHECK(ValidateDomain("example.com").ok());
  CHECK(ValidateDomain("www.shop-1.example.co.uk").ok());
  CHECK_FALSE(ValidateDomain("localhost").ok());
  CHECK_FALSE(ValidateDomain("Example.com").ok());
  CHECK_FALSE(ValidateDomain("a..b").ok());
  CHECK_FALSE(ValidateDomain("-a.com").ok());
  CHECK_FALSE(ValidateDomain("a b.com").ok());
  CHECK_FALSE(ValidateDomain(std::string(64, 'a') + ".com").ok());
}

TEST_CASE("a site is built from JSON with clear errors", "[unit]") {
  auto site = Apply(Site{},
                    json{{"name", "shop"},
                         {"domains", {"b.example.com", "a.example.com"}},
                         {"min", 2},
                         {"max", 4}},
                    true);
  REQUIRE(site.ok());
  CHECK(site->domains == std::vector<std::string>{"a.example.com", "b.example.com"});
  CHECK(site->min_copies == 2);
  CHECK(site->up == 2.0);
  auto round_trip = Decode(Encode(*site));
  REQUIRE(round_trip.ok());
  CHECK(*round_trip == *site);

  auto error = [](const json& body) {
    auto result = Apply(Site{}, body, true);
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().code() == StatusCode::kInvalidArgument);
    return result.status().message();
  };
  const json base = {{"name", "shop"}, {"domains", {"shop.example.com"}}};
  CHECK(error(json{{"name", "shop"}}) == "a site needs at least one domain");
  json body = base;
  body["min"] = 5;
  body["max"] = 2;
  CHECK(error(body) == "min (5) must not exceed max (2)");
  body = base;
  body["up"] = 1.0;
  body["down"] = 1.5;
  CHECK(error(body) == "down must be below up, or copies would flap");
  body = base;
  body["colour"] = "red";
  CHECK(error(body) == "unknown field 'colour'");
  body = base;
  body["max"] = -1;
  CHECK(error(body).find("max must be a whole number") == 0);
  body = base;
  body["domains"] = {"a.example.com", "a.example.com"};
  CHECK(error(body) == "a domain is listed twice");
  body = base;
  body["memory_mb"] = 8;
  CHECK(error(body) == "memory_mb must be a whole number from 16 to 1048576");
  body = base;
  body["pids"] = "many";
  CHECK(error(body) == "pids must be a whole number from 8 to 1048576");
  body = base;
  body["memory_mb"] = 64;
  body["pids"] = 100;
  auto limited = Apply(Site{}, body, true);
  REQUIRE(limited.ok());
  CHECK(limited->memory_mb == 64);
  CHECK(limited->pids == 100);
  CHECK(Decode(Encode(*limited))->pids == 100);
  CHECK(limited->start_timeout_s == 60);
  CHECK(limited->max_body_mb == 16);
  body = base;
  body["start_timeout_s"] = 0;
  CHECK(error(body) == "start_timeout_s must be a whole number from 1 to 3600");
  body = base;
  body["max_body_mb"] = 10241;
  CHECK(error(body) == "max_body_mb must be a whole number from 1 to 10240");
  body = base;
  body["start_timeout_s"] = 5;
  body["max_body_mb"] = 200;
  auto timed = Decode(Encode(*Apply(Site{}, body, true)));
  REQUIRE(timed.ok());
  CHECK(timed->start_timeout_s == 5);
  CHECK(timed->max_body_mb == 200);

  // An update may not rename.
  auto renamed = Apply(*site, json{{"name", "other"}}, false);
  REQUIRE_FALSE(renamed.ok());
  CHECK(renamed.status().message() == "a site cannot be renamed");
  CHECK_FALSE(Decode("{not json").ok());
}

TEST_CASE("a site's settings merge, and bad names or values are refused", "[unit]") {
  auto site =
      Apply(Site{}, nlohmann::json::parse(R"({"name": "shop", "domains": ["shop.example.com"],
      "env": {"GREETING": "hello", "MODE": "prod"}})"),
            true);
  REQUIRE(site.ok());
  CHECK(site->env == std::map<std::string, std::string>{{"GREETING", "hello"}, {"MODE", "prod"}});
  // An update: a string sets, null removes, the rest stays.
  auto updated =
      Apply(*site, nlohmann::json::parse(R"({"env": {"MODE": null, "LEVEL": "3"}})"), false);
  REQUIRE(updated.ok());
  CHECK(updated->env == std::map<std::string, std::string>{{"GREETING", "hello"}, {"LEVEL", "3"}});
  auto back = Decode(Encode(*updated));
  REQUIRE(back.ok());
  CHECK(*back == *updated);
  for (const char* bad :
       {R"({"env": {"9LIVES": "x"}})", R"({"env": {"A-B": "x"}})", R"({"env": {"PORT": "80"}})",
        R"({"env": {"": "x"}})", R"({"env": {"A": 1}})", R"({"env": ["A=1"]})"}) {
    INFO(bad);
    CHECK(Apply(*site, nlohmann::json::parse(bad), false).status().code() ==
          StatusCode::kInvalidArgument);
  }
  nlohmann::json big = {{"env", {{"BIG", std::string(kMaxEnvValue + 1, 'x')}}}};
  CHECK_FALSE(Apply(*site, big, false).ok());
  nlohmann::json many = {{"env", nlohmann::json::object()}};
  for (size_t i = 0; i <= kMaxEnv; ++i) many["env"]["V" + std::to_string(i)] = "x";
  CHECK_FALSE(Apply(*site, many, false).ok());
  // One name is a setting or a secret, not both.
  Site both = *site;
  both.secrets = {{"GREETING", "0123456789abcdef"}};
  CHECK_FALSE(Validate(both).ok());
}

}  // namespace
}  // namespace starling::sites
