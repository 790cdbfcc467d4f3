// [unit] the balancer's pure part: upstreams from the view, the table pushed to nginx, and the
// configuration text (nginx itself checks it in the [integration] balancer test).
#include "src/balancer/nginx.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace starling::balancer {
namespace {

using gossip::CopyLoad;

TEST_CASE("upstreams hold the serving copies that are not draining, of known sites", "[unit]") {
  const std::vector<SiteDomains> sites = {{"blog", {"blog.example.com"}},
                                          {"shop", {"shop.example.com", "www.shop.example.com"}}};
  const std::vector<WorkerCopies> workers = {
      {"10.0.0.2",
       {CopyLoad{"shop", 1.5f, true, 30001, false}, CopyLoad{"blog", 0, false, 30002, false},
        CopyLoad{"gone", 0, true, 30003, false}}},
      {"10.0.0.1",
       {CopyLoad{"shop", 0.5f, true, 30000, false}, CopyLoad{"blog", 0, true, 30004, true}}},
  };
  const Upstreams upstreams = BuildUpstreams(workers, sites);
  REQUIRE(upstreams.size() == 2);  // "gone" is no site
  CHECK(upstreams.at("shop") == std::vector<std::string>{"10.0.0.1:30000", "10.0.0.2:30001"});
  CHECK(upstreams.at("blog").empty());  // one starting, one draining: nothing to send to
  // The same view in another order: the same table (every balancer agrees).
  const std::vector<WorkerCopies> reversed = {workers[1], workers[0]};
  CHECK(BuildUpstreams(reversed, sites) == upstreams);

  const auto body = nlohmann::json::parse(UpstreamsBody(7, upstreams));
  CHECK(body["generation"] == 7);
  CHECK(body["sites"]["shop"] ==
        nlohmann::json::parse(R"([["10.0.0.1",30000],["10.0.0.2",30001]])"));
  CHECK(body["sites"]["blog"] == nlohmann::json::array());
}

TEST_CASE("a suspect worker's copies are used only when a site has no other", "[unit]") {
  const std::vector<SiteDomains> sites = {{"shop", {"shop.example.com"}},
                                          {"solo", {"solo.example.com"}}};
  std::vector<WorkerCopies> workers = {
      {"10.0.0.1", {CopyLoad{"shop", 0, true, 30000, false}}, false},
      {"10.0.0.2",
       {CopyLoad{"shop", 0, true, 30001, false}, CopyLoad{"solo", 0, true, 30002, false}},
       true},
  };
  const Upstreams upstreams = BuildUpstreams(workers, sites);
  CHECK(upstreams.at("shop") == std::vector<std::string>{"10.0.0.1:30000"});
  CHECK(upstreams.at("solo") == std::vector<std::string>{"10.0.0.2:30002"});
  workers[1].suspect = false;
  CHECK(BuildUpstreams(workers, sites).at("shop").size() == 2);
}

TEST_CASE("the nginx configuration: Lua mode routes by domain through one dynamic upstream",
          "[unit]") {
  NginxOptions options;
  options.listen = "127.0.0.1:8080";
  options.control = "127.0.0.1:8081";
  options.retries = 2;
  const std::vector<SiteDomains> sites = {{"my-shop", {"shop.example.com", "www.example.com"}}};
  const std::string lua = RenderConfig(options, sites, {{"my-shop", {"127.0.0.1:30000"}}});
  CHECK_THAT(lua, Catch::Contains("server_name shop.example.com www.example.com;"));
  CHECK_THAT(lua, Catch::Contains("set $starling_site \"my-shop\";"));
  CHECK_THAT(lua, Catch::Contains("client_max_body_size 16m;"));  // the site's default
  CHECK_THAT(lua, Catch::Contains("balancer_by_lua_block"));
  CHECK_THAT(lua, Catch::Contains("math.min(#peers, 2)"));
  CHECK_THAT(lua, Catch::Contains("proxy_next_upstream_tries 2;"));
  CHECK_THAT(lua, Catch::Contains("listen 127.0.0.1:8081;"));
  CHECK_THAT(lua, !Catch::Contains("30000"));  // peers come through the control listener
  // Connections to copies are kept (after the balancer block, which picks their peer).
  CHECK(lua.find("keepalive 4;") != std::string::npos);
  CHECK(lua.find("keepalive 4;") > lua.find("balancer_by_lua_block"));
  CHECK_THAT(lua, Catch::Contains("keepalive_timeout 4s;"));
  CHECK_THAT(lua, !Catch::Contains("http_x_starling_control"));
  options.control_secret = "00ff";
  CHECK_THAT(RenderConfig(options, sites, {}),
             Catch::Contains("if ngx.var.http_x_starling_control ~= \"00ff\" then return "
                             "ngx.exit(403) end"));
  options.control_secret.clear();

  options.mode = Mode::kReload;
  const std::string plain = RenderConfig(options, sites, {{"my-shop", {"127.0.0.1:30000"}}});
  CHECK_THAT(plain, Catch::Contains("upstream site_my_shop {\n        server 127.0.0.1:30000;"));
  CHECK_THAT(plain, !Catch::Contains("lua"));
  CHECK_THAT(plain, Catch::Contains("server 127.0.0.1:30000;\n        keepalive 4;"));
  CHECK_THAT(plain, !Catch::Contains("8081"));
  std::vector<SiteDomains> big = sites;
  big[0].max_body_mb = 200;
  CHECK_THAT(RenderConfig(options, big, {}), Catch::Contains("client_max_body_size 200m;"));
  CHECK(big != sites);  // a change of the limit alone is a new configuration: a reload
  const std::string empty = RenderConfig(options, sites, {});
  CHECK_THAT(empty, Catch::Contains("server 127.0.0.1:1 down;"));
}

}  // namespace
}  // namespace starling::balancer
