// [unit] nginx's JSON access log into per-site totals: lines split across reads, our lines
// parsed, anything else counted as malformed and skipped.
#include "src/balancer/access_log.h"

#include <catch2/catch.hpp>

namespace starling::balancer {
namespace {

const char* kLine =
    R"({"time":"2026-11-26T05:00:00+00:00","msec":1795000000.123,"site":"web","host":"web.example.com",)"
    R"("method":"GET","status":200,"bytes":15,"request_time":0.002,)"
    R"("upstream":"10.77.0.2:30000, 10.77.0.3:30000","upstream_status":"502, 200","upstream_time":"0.001, 0.001"})";

TEST_CASE("access log: one of nginx's lines", "[unit]") {
  auto record = ParseAccessLine(kLine);
  REQUIRE(record.ok());
  CHECK(record->site == "web");
  CHECK(record->status == 200);
  CHECK(record->bytes == 15);
  CHECK(record->request_time_s == Approx(0.002));
  CHECK(record->upstream_tries == 2);
  auto unmatched = ParseAccessLine(R"({"site":"","status":404,"bytes":0,"upstream":""})");
  REQUIRE(unmatched.ok());
  CHECK(unmatched->upstream_tries == 0);
}

TEST_CASE("access log: what is not ours is refused", "[unit]") {
  for (const char* bad :
       {"", "not json", "[1,2]", R"({"site":"web"})", R"({"site":1,"status":200,"bytes":1})",
        R"({"site":"web","status":"200","bytes":1})", R"({"site":"web","status":200,"bytes":-1})",
        R"({"site":"web",)"}) {
    INFO(bad);
    CHECK_FALSE(ParseAccessLine(bad).ok());
  }
}

TEST_CASE("access log: lines arrive in pieces", "[unit]") {
  LineSplitter splitter;
  CHECK(splitter.Feed("ab").empty());
  CHECK(splitter.Feed("c\nde\n\nf") == std::vector<std::string>{"abc", "de", ""});
  CHECK(splitter.pending() == 1);
  CHECK(splitter.Feed("g\n") == std::vector<std::string>{"fg"});
  CHECK(splitter.pending() == 0);
}

TEST_CASE("access log: per-site totals", "[unit]") {
  TrafficTotals totals;
  totals.Add(kLine);
  totals.Add(R"({"site":"web","status":503,"bytes":100,"request_time":0.5,"upstream":"-"})");
  totals.Add(R"({"site":"","status":404,"bytes":0})");
  totals.Add("garbage");
  REQUIRE(totals.sites().size() == 2);
  const SiteTraffic& web = totals.sites().at("web");
  CHECK(web.requests == 2);
  CHECK(web.bytes == 115);
  CHECK(web.status[2] == 1);
  CHECK(web.status[5] == 1);
  CHECK(web.retried == 1);
  CHECK(web.request_time_s == Approx(0.502));
  CHECK(totals.sites().at("").status[4] == 1);
  CHECK(totals.malformed() == 1);
}

}  // namespace
}  // namespace starling::balancer
