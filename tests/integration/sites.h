// tests/integration/sites.h — a site with copies for [integration] tests: its image (busybox's
// httpd, a page, a CGI program that burns CPU), and what the agents say about its copies.
#pragma once

#include <set>

#include "tests/integration/cluster.h"

namespace starling::testing {

// Short windows keep tests to minutes; the rules are the defaults' otherwise.
inline const char* kCopiesConfig =
    "[copies]\nup_window_s = 2\ndown_window_s = 3\nup_cooldown_s = 2\ndown_cooldown_s = 3\n"
    "stop_grace_s = 1\n";

inline const char* kPage = "a burning site\n";

struct Copy {
  std::string node, state;
  uint16_t port = 0;
  double load1 = 0;
};

// Every copy of `site` the live agents report.
inline std::vector<Copy> Copies(Cluster& cluster, const std::string& site) {
  std::vector<Copy> out;
  for (const auto& agent : cluster.agents()) {
    if (agent.pid <= 0) continue;
    auto answer = Cluster::Api(agent, "GET", "/v1/copies", "{}", 2);
    if (!answer || answer->first != 200) continue;
    for (const auto& copy : answer->second["copies"]) {
      if (copy["site"] != site) continue;
      out.push_back({copy["node"], copy["state"], copy["port"], copy["load1"]});
    }
  }
  return out;
}

inline std::vector<Copy> Serving(Cluster& cluster, const std::string& site) {
  std::vector<Copy> serving;
  for (auto& copy : Copies(cluster, site)) {
    if (copy.state == "serving") serving.push_back(copy);
  }
  return serving;
}

// The body of `path` on a serving copy of `site` (on loopback), once one serves it non-empty
// within `deadline`; nothing otherwise. What a probe run inside a copy wrote for the test.
inline std::optional<std::string> ServedFile(Cluster& cluster, const std::string& site,
                                             const std::string& path,
                                             std::chrono::seconds deadline) {
  std::optional<std::string> body;
  WaitFor(deadline, [&] {
    for (const auto& copy : Serving(cluster, site)) {
      httplib::Client client("127.0.0.1", copy.port);
      client.set_connection_timeout(1, 0);
      auto response = client.Get(path);
      if (response && response->status == 200 && !response->body.empty()) {
        body = response->body;
        return true;
      }
    }
    return false;
  });
  return body;
}

inline std::string Describe(const std::vector<Copy>& copies) {
  std::string text;
  for (const auto& copy : copies) {
    text += fmt::format("{}:{} {} load {:.2f}; ", copy.node, copy.port, copy.state, copy.load1);
  }
  return text.empty() ? "no copies" : text;
}

inline bool Answers(uint16_t port, const std::string& host = "127.0.0.1") {
  httplib::Client client(host, port);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(2, 0);
  auto response = client.Get("/index.html");
  return response && response->status == 200 && response->body == kPage;
}

// Every event text the live agents hold.
inline std::string Events(Cluster& cluster) {
  std::string text;
  for (const auto& agent : cluster.agents()) {
    if (agent.pid <= 0) continue;
    auto answer = Cluster::Api(agent, "GET", "/v1/events?after=0", "{}", 2);
    if (!answer || answer->first != 200) continue;
    for (const auto& event : answer->second["events"]) {
      text += event["node"].get<std::string>() + ": " + event["text"].get<std::string>() + "\n";
    }
  }
  return text;
}

// The events of `kind` ("site.scale", "copy.drained", ... see src/agent/events.h) the live
// agents hold, each with its fields.
inline std::vector<json> EventsOf(Cluster& cluster, const std::string& kind) {
  std::vector<json> found;
  for (const auto& agent : cluster.agents()) {
    if (agent.pid <= 0) continue;
    auto answer = Cluster::Api(agent, "GET", "/v1/events?after=0", "{}", 2);
    if (!answer || answer->first != 200) continue;
    for (const auto& event : answer->second["events"]) {
      if (event.value("kind", "") == kind) found.push_back(event);
    }
  }
  return found;
}

// Whether some event satisfies `match`.
inline bool AnyEvent(const std::vector<json>& events,
                     const std::function<bool(const json&)>& match) {
  return std::any_of(events.begin(), events.end(), match);
}

// Whether `condition` holds at every check for `span` (polled; false at its first failure).
inline bool StaysTrue(std::chrono::milliseconds span, const std::function<bool()>& condition) {
  return !WaitFor(span, [&] { return !condition(); });
}

inline Cluster::Agent& Named(Cluster& cluster, const std::string& name) {
  for (auto& agent : cluster.agents()) {
    if (agent.name == name) return agent;
  }
  FAIL("no agent " << name);
  return cluster.agents().front();
}

// The site's image: busybox's httpd, a page, and a CGI program that burns CPU per request.
inline fs::path BuildImage(const fs::path& dir) {
  const fs::path tree = dir / "burn-image";
  if (fs::exists(tree)) return tree;  // built once per cluster
  for (const char* sub : {"bin", "www/cgi-bin", "proc", "dev", "sys", "tmp"}) {
    fs::create_directories(tree / sub);
  }
  fs::copy_file("/bin/busybox", tree / "bin/busybox");
  fs::create_symlink("busybox", tree / "bin/sh");
  std::ofstream(tree / "www/index.html") << kPage;
  std::ofstream(tree / "www/cgi-bin/burn")
      << "#!/bin/sh\n"
         "i=0\n"
         "while [ $i -lt 20000 ]; do i=$((i+1)); done\n"
         "printf 'Content-Type: text/plain\\r\\n\\r\\nburnt\\n'\n";
  fs::permissions(tree / "www/cgi-bin/burn", fs::perms::owner_all | fs::perms::group_read |
                                                 fs::perms::group_exec | fs::perms::others_read |
                                                 fs::perms::others_exec);
  return tree;
}

// Creates `site` (max 3 copies) with `domain`, pushes the image, and waits for its first copy.
inline Copy CreateSite(Cluster& cluster, const std::string& site, const std::string& domain) {
  auto& agents = cluster.agents();
  auto created = Cluster::Api(agents[0], "POST", "/v1/sites?ack=all-live",
                              json{{"name", site}, {"domains", {domain}}, {"max", 3}}.dump());
  REQUIRE(created);
  INFO(created->second.dump());
  REQUIRE(created->first == 200);
  const json push = {
      {"path", BuildImage(cluster.dir()).string()},
      {"command",
       {"/bin/busybox", "sh", "-c",
        // On loopback, or every address of the node (a lab namespace: balancers elsewhere).
        agents[0].netns.empty() ? "exec /bin/busybox httpd -f -p 127.0.0.1:$PORT -h /www"
                                : "exec /bin/busybox httpd -f -p $PORT -h /www"}}};
  auto pushed =
      Cluster::Api(agents[0], "POST", "/v1/images/" + site + "?ack=all-live", push.dump(), 60);
  REQUIRE(pushed);
  INFO(pushed->second.dump());
  REQUIRE(pushed->first == 200);
  std::vector<Copy> copies;
  REQUIRE(WaitFor(std::chrono::seconds(30), [&] {
    copies = Serving(cluster, site);
    return copies.size() == 1 && Answers(copies[0].port, Named(cluster, copies[0].node).host);
  }));
  return copies[0];
}

}  // namespace starling::testing
