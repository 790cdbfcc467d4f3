#include "src/balancer/nginx.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "base/status.h"

namespace starling::balancer {

namespace {

// Loaded once per nginx worker: the peer table (a per-worker cache of the shared dictionary,
// decoded only when a site's entry changes), round-robin picks, and in-flight counts per peer
// (so a drain knows when a copy's last request has finished).
constexpr const char* kInitLua = R"lua(
    starling = {}
    local cjson = require "cjson.safe"
    local dict = ngx.shared.starling
    local cache = {}
    function starling.peers(site)
      local text = dict:get("u:" .. site)
      if not text then return nil end
      local hit = cache[site]
      if not hit or hit.text ~= text then
        local list = cjson.decode(text)
        if type(list) ~= "table" then return nil end
        hit = { text = text, peers = list, next = 0 }
        cache[site] = hit
      end
      if #hit.peers == 0 then return nil end
      return hit.peers, hit
    end
    function starling.finish()
      local peer = ngx.ctx.starling_peer
      if peer then
        dict:incr("f:" .. peer, -1, 0)
        ngx.ctx.starling_peer = nil
      end
    end
)lua";

// The upstream's peer choice: round robin from a per-site rotor, the next peers on retries.
constexpr const char* kBalancerLua = R"lua(
      local balancer = require "ngx.balancer"
      local ctx = ngx.ctx
      local peers, entry = starling.peers(ngx.var.starling_site)
      if not peers then return ngx.exit(502) end
      if ctx.starling_tries then
        starling.finish()  -- a retry: the previous try is over
      else
        entry.next = entry.next % #peers + 1
        ctx.starling_first = entry.next
        ctx.starling_tries = 0
        local more = math.min(#peers, {retries}) - 1
        if more > 0 then balancer.set_more_tries(more) end
      end
      local peer = peers[(ctx.starling_first + ctx.starling_tries - 1) % #peers + 1]
      ctx.starling_tries = ctx.starling_tries + 1
      local ok, err = balancer.set_current_peer(peer[1], peer[2])
      if not ok then
        ngx.log(ngx.ERR, "starling: cannot use peer: ", err)
        return ngx.exit(502)
      end
      ctx.starling_peer = peer[1] .. ":" .. peer[2]
      ngx.shared.starling:incr("f:" .. ctx.starling_peer, 1, 0)
)lua";

// The control listener: the agent's upstream table in, the applied generation and in-flight
// counts out.
constexpr const char* kControlLua = R"lua(
        location = /starling/upstreams {
            client_body_buffer_size 4m;
            client_max_body_size 4m;
            content_by_lua_block {
                local cjson = require "cjson.safe"
                ngx.req.read_body()
                local body = ngx.req.get_body_data()
                local data = body and cjson.decode(body)
                if type(data) ~= "table" or type(data.sites) ~= "table" or
                   type(data.generation) ~= "number" then
                    ngx.status = 400
                    ngx.say('{"error":"not an upstream table"}')
                    return
                end
                local dict = ngx.shared.starling
                for _, key in ipairs(dict:get_keys(0)) do
                    if key:sub(1, 2) == "u:" and data.sites[key:sub(3)] == nil then
                        dict:delete(key)
                    end
                end
                for site, peers in pairs(data.sites) do
                    local ok, err = dict:set("u:" .. site, cjson.encode(peers))
                    if not ok then
                        ngx.status = 500
                        ngx.say(cjson.encode({error = err}))
                        return
                    end
                end
                dict:set("generation", data.generation)
                ngx.say(cjson.encode({generation = data.generation}))
            }
        }
        location = /starling/state {
            content_by_lua_block {
                local cjson = require "cjson.safe"
                local dict = ngx.shared.starling
                local inflight = {}
                for _, key in ipairs(dict:get_keys(0)) do
                    if key:sub(1, 2) == "f:" then inflight[key:sub(3)] = dict:get(key) end
                end
                ngx.say(cjson.encode({generation = dict:get("generation") or 0,
                                      inflight = inflight}))
            }
        }
)lua";

std::string HostOf(const std::string& address) {
  const auto colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

std::string PortOf(const std::string& address) {
  const auto colon = address.rfind(':');
  return colon == std::string::npos ? "" : address.substr(colon + 1);
}

}  // namespace

std::string UpstreamName(const std::string& site) {
  std::string name = "site_" + site;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

Upstreams BuildUpstreams(const std::vector<WorkerCopies>& workers,
                         const std::vector<SiteDomains>& sites) {
  Upstreams out, suspected;
  for (const auto& site : sites) out[site.name];  // a known site with no copy: an empty list
  for (const auto& worker : workers) {
    for (const auto& copy : worker.copies) {
      if (!copy.serving || copy.draining || copy.port == 0) continue;
      auto it = out.find(copy.site);
      if (it == out.end()) continue;
      const std::string peer = worker.host + ":" + std::to_string(copy.port);
      if (worker.suspect) {
        suspected[copy.site].push_back(peer);
      } else {
        it->second.push_back(peer);
      }
    }
  }
  for (auto& [site, peers] : suspected) {
    if (out[site].empty()) out[site] = std::move(peers);
  }
  for (auto& [site, peers] : out) {
    std::sort(peers.begin(), peers.end());
    peers.erase(std::unique(peers.begin(), peers.end()), peers.end());
  }
  return out;
}

std::string UpstreamsBody(uint64_t generation, const Upstreams& upstreams) {
  nlohmann::json sites = nlohmann::json::object();
  for (const auto& [site, peers] : upstreams) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& peer : peers) {
      list.push_back({HostOf(peer), std::stoi(PortOf(peer))});
    }
    sites[site] = std::move(list);
  }
  return nlohmann::json{{"generation", generation}, {"sites", std::move(sites)}}.dump();
}

// Connections to copies kept open between requests (a new TCP connection per request costs a
// PHP copy more than a small page does). Few idle ones per nginx worker: a prefork server
// (the php stack's Apache: 20 processes) gives each open connection a process, and two
// balancers of two workers keep at most 16 idle. Closed by nginx after 4 s idle, before the
// php stack's Apache would (KeepAliveTimeout 5): nginx never sends on a connection the copy is
// closing.
constexpr const char* kUpstreamKeepalive =
    "        keepalive 4;\n        keepalive_timeout 4s;\n        keepalive_requests 1000;\n";

std::string RenderConfig(const NginxOptions& options, const std::vector<SiteDomains>& sites,
                         const Upstreams& upstreams) {
  const bool lua = options.mode == Mode::kLua;
  std::string out;
  out += "# Written by starling agent; every change here is overwritten.\n";
  if (!options.user.empty()) out += fmt::format("user {};\n", options.user);
  out += fmt::format("worker_processes {};\n", options.worker_processes);
  out += "pid nginx.pid;\nerror_log error.log warn;\n";
  if (lua) {
    out += fmt::format("load_module {}/ndk_http_module.so;\n", options.modules_dir);
    out += fmt::format("load_module {}/ngx_http_lua_module.so;\n", options.modules_dir);
  }
  out += "events { worker_connections 4096; }\n\nhttp {\n";
  out +=
      R"(    log_format starling escape=json '{"time":"$time_iso8601","msec":$msec,"site":"$starling_site",'
        '"host":"$host","method":"$request_method","status":$status,'
        '"bytes":$body_bytes_sent,"request_time":$request_time,'
        '"upstream":"$upstream_addr","upstream_status":"$upstream_status",'
        '"upstream_time":"$upstream_response_time"}';
    access_log access.log starling;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    server_tokens off;
)";
  if (lua) {
    out += "    lua_shared_dict starling 8m;\n";
    out += "    init_by_lua_block {" + std::string(kInitLua) + "    }\n";
    std::string balancer = kBalancerLua;
    const auto at = balancer.find("{retries}");
    balancer.replace(at, 9, std::to_string(std::max(1, options.retries)));
    out += "    upstream starling {\n        server 0.0.0.1;  # unused: Lua picks the peer\n";
    out += "        balancer_by_lua_block {" + balancer + "        }\n";
    out += kUpstreamKeepalive;  // after the balancer (OpenResty's order)
    out += "    }\n";
  } else {
    for (const auto& site : sites) {
      out += fmt::format("    upstream {} {{\n", UpstreamName(site.name));
      auto it = upstreams.find(site.name);
      if (it == upstreams.end() || it->second.empty()) {
        out += "        server 127.0.0.1:1 down;  # no copy serves\n";
      } else {
        for (const auto& peer : it->second) out += fmt::format("        server {};\n", peer);
        out += kUpstreamKeepalive;
      }
      out += "    }\n";
    }
  }
  // Unknown hosts: 404. The variable is declared here for the log format.
  out += fmt::format(R"(    server {{
        listen {} default_server;
        set $starling_site "";
        location / {{ return 404 "no site here\n"; }}
    }}
)",
                     options.listen);
  for (const auto& site : sites) {
    std::string names;
    for (const auto& domain : site.domains) names += " " + domain;
    out += fmt::format("    server {{\n        listen {};\n        server_name{};\n",
                       options.listen, names);
    out += fmt::format("        set $starling_site \"{}\";\n", site.name);
    out += fmt::format("        client_max_body_size {}m;\n", site.max_body_mb);
    out += "        location / {\n";
    if (lua) {
      out += R"(            access_by_lua_block {
                if not starling.peers(ngx.var.starling_site) then
                    ngx.status = 503
                    ngx.say("no copy of this site serves right now")
                    return ngx.exit(503)
                end
            }
            log_by_lua_block { starling.finish() }
            proxy_pass http://starling;
)";
    } else {
      out += fmt::format("            proxy_pass http://{};\n", UpstreamName(site.name));
    }
    out += fmt::format(R"(            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries {};
        }}
    }}
)",
                       std::max(1, options.retries));
  }
  if (lua && !options.control.empty()) {
    out += fmt::format("    server {{\n        listen {};\n", options.control);
    out += "        access_log off;\n        set $starling_site \"\";\n";
    if (!options.control_secret.empty()) {
      STARLING_CHECK(options.control_secret.find_first_not_of("0123456789abcdef") ==
                     std::string::npos);
      out += fmt::format(
          "        access_by_lua_block {{\n"
          "            if ngx.var.http_x_starling_control ~= \"{}\" then return ngx.exit(403) end\n"
          "        }}\n",
          options.control_secret);
    }
    out += kControlLua;
    out += "    }\n";
  }
  out += "}\n";
  return out;
}

}  // namespace starling::balancer
