// [unit] the addresses the agent is given and gives (src/agent/address.h): loopback, and an
// API's URL with or without its scheme.
#include "src/agent/address.h"

#include <catch2/catch.hpp>

namespace starling::agent {
namespace {

TEST_CASE("Addresses: loopback hosts, and API addresses with and without a scheme", "[unit]") {
  CHECK(IsLoopbackHost("127.0.0.1"));
  CHECK(IsLoopbackHost("127.8.9.10"));
  CHECK(IsLoopbackHost("localhost"));
  CHECK(IsLoopbackHost("::1"));
  CHECK_FALSE(IsLoopbackHost("0.0.0.0"));
  CHECK_FALSE(IsLoopbackHost("127.evil.example"));
  CHECK_FALSE(IsLoopbackHost("10.0.0.1"));

  struct Case {
    std::string text;
    bool tls;
    std::string host;
  };
  for (const Case& c :
       {Case{"https://127.0.0.1:7947", true, "127.0.0.1"},
        Case{"http://10.0.0.1:7947/", false, "10.0.0.1"}, Case{"10.0.0.1:7947", true, "10.0.0.1"},
        Case{"127.0.0.1:7947", false, "127.0.0.1"}, Case{"[::1]:7947", false, "::1"}}) {
    INFO(c.text);
    auto parsed = ParseApiAddress(c.text, "api");
    REQUIRE(parsed.ok());
    CHECK(parsed->tls == c.tls);
    CHECK(parsed->address.host == c.host);
    CHECK(parsed->address.port == 7947);
  }
  CHECK_FALSE(ParseApiAddress("https://nohost", "api").ok());
  CHECK_FALSE(ParseApiAddress("ftp://10.0.0.1:21", "api").ok());
}

}  // namespace
}  // namespace starling::agent
