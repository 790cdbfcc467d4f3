// [integration] site files on the cluster's GlusterFS volume (issue 19, docs/FILES.md): three
// nodes that are workers and storage nodes, each in a lab namespace of its own (GlusterFS refuses
// loopback bricks). The agents form the volume by themselves and mount it; a site persists a
// path: a file written through one copy is read through another at once, and by a copy started
// elsewhere after a drain; a storage node's machine dies during a bounded stream of fsync'd
// writes and nothing acknowledged is lost, and it heals when it returns; a node cut off refuses
// writes (quorum) and after the heal no file is in split-brain.
#include <catch2/catch.hpp>
#include <filesystem>
#include <set>
#include <string>

#include "tests/integration/cluster.h"
#include "tests/integration/sites.h"

namespace {

using namespace starling::testing;

constexpr char kSite[] = "files";

// The image: busybox's httpd serving /www, with a CGI program that writes its query string to
// /www/data/<query string> through dd with fsync (the answer says ok only after it).
fs::path FilesImage(const fs::path& dir) {
  const fs::path tree = dir / "files-image";
  for (const char* sub : {"bin", "www/cgi-bin", "proc", "dev", "sys", "tmp"}) {
    fs::create_directories(tree / sub);
  }
  fs::copy_file("/bin/busybox", tree / "bin/busybox");
  fs::create_symlink("busybox", tree / "bin/sh");
  std::ofstream(tree / "www/index.html") << "files\n";
  std::ofstream(tree / "www/cgi-bin/put")
      << "#!/bin/sh\n"
         "case \"$QUERY_STRING\" in *[!a-z0-9-]*|'') printf 'Status: 400\\r\\n\\r\\n'; exit;; "
         "esac\n"
         "if echo \"$QUERY_STRING\" | /bin/busybox dd of=/www/data/$QUERY_STRING conv=fsync "
         "2>/dev/null; then\n"
         "  printf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'\n"
         "else\n"
         "  printf 'Status: 503\\r\\n\\r\\n'\n"
         "fi\n";
  fs::permissions(tree / "www/cgi-bin/put", fs::perms(0755));
  // 600 KiB of zeros to /www/data/<query string>, fsync'd: ok, or 503 (a quota refused it).
  std::ofstream(tree / "www/cgi-bin/fill")
      << "#!/bin/sh\n"
         "case \"$QUERY_STRING\" in *[!a-z0-9-]*|'') printf 'Status: 400\\r\\n\\r\\n'; exit;; "
         "esac\n"
         "if /bin/busybox dd if=/dev/zero of=/www/data/$QUERY_STRING bs=1024 count=600 "
         "conv=fsync 2>/dev/null; then\n"
         "  printf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'\n"
         "else\n"
         "  printf 'Status: 503\\r\\n\\r\\n'\n"
         "fi\n";
  fs::permissions(tree / "www/cgi-bin/fill", fs::perms(0755));
  return tree;
}

// Every agent's /v1/files entry for itself (storage and mount), by node.
std::map<std::string, json> FilesState(Cluster& cluster) {
  std::map<std::string, json> states;
  for (auto& agent : cluster.agents()) {
    if (!Cluster::Running(agent)) continue;
    auto answer = Cluster::Api(agent, "GET", "/v1/files", "{}", 5);
    if (answer && answer->first == 200 && !answer->second["nodes"].empty()) {
      states[agent.name] = answer->second["nodes"][0];
    }
  }
  return states;
}

// Every running agent's brick is in the started volume and up, its mount answers, and (with
// `healed`) no brick has entries left to heal or in split-brain.
bool VolumeReady(Cluster& cluster, size_t nodes, bool healed) {
  const auto states = FilesState(cluster);
  if (states.size() != nodes) return false;
  for (const auto& [name, state] : states) {
    const json storage = state.value("storage", json::object());
    if (storage.value("state", "") != "started" || !storage.value("brick_up", false) ||
        !state.value("mount", json::object()).value("mounted", false)) {
      return false;
    }
    if (!healed) continue;
    if (!storage.contains("heal") || !storage["heal"].is_array()) return false;
    for (const auto& brick : storage["heal"]) {
      if (!brick.value("connected", false) || brick.value("pending", 1) != 0 ||
          brick.value("split_brain", 1) != 0) {
        return false;
      }
    }
  }
  return true;
}

std::string DescribeFiles(Cluster& cluster) {
  std::string text;
  for (const auto& [name, state] : FilesState(cluster)) text += name + ": " + state.dump() + "\n";
  return text;
}

// GET http://host:port/path: the status and body (status 0 when nothing answered).
std::pair<int, std::string> Get(const std::string& host, uint16_t port, const std::string& path,
                                int timeout_s = 10) {
  httplib::Client client(host, port);
  client.set_connection_timeout(timeout_s);
  client.set_read_timeout(timeout_s);
  auto answer = client.Get(path);
  if (!answer) return {0, ""};
  return {answer->status, answer->body};
}

// Serving copies of the site on distinct nodes, by node.
std::map<std::string, Copy> ServingByNode(Cluster& cluster) {
  std::map<std::string, Copy> by_node;
  for (const auto& copy : Serving(cluster, kSite)) by_node[copy.node] = copy;
  return by_node;
}

TEST_CASE(
    "site files: a persisted path shared by every copy, kept through a drain, nothing "
    "acknowledged lost when a storage node dies, no split-brain after a partition",
    "[integration][files]") {
  REQUIRE(::geteuid() == 0);
  REQUIRE(RunCommand("for p in glusterd mount.glusterfs; do command -v $p; done | wc -l") == "2\n");
  REQUIRE(NetLab::Possible());
  NetLab lab("stf" + std::to_string(::getpid() % 100000), 3);
  Cluster cluster(lab.name());
  const std::string config = std::string("roles = [\"worker\", \"storage\"]\n") + kCopiesConfig +
                             "[files]\nping_timeout_s = 5\n";
  for (int i = 1; i <= 3; ++i) cluster.Add(fmt::format("node-{}", i), {}, config);
  for (auto& agent : cluster.agents()) cluster.Start(agent);
  auto& agents = cluster.agents();
  REQUIRE(cluster.WaitAllAlive(3, std::chrono::seconds(30)));
  // The agents form the volume, start it and mount it by themselves.
  const bool formed =
      WaitFor(std::chrono::seconds(90), [&] { return VolumeReady(cluster, 3, false); });
  INFO(DescribeFiles(cluster));
  REQUIRE(formed);
  const std::string status = RunCommand(fmt::format(
      "{} --api {}:{} files status 2>&1", STARLING_BINARY, agents[0].host, agents[0].api_port));
  INFO(status);
  CHECK_THAT(status, Catch::Contains("volume starling started, replica 3, 3 bricks"));

  // A site with a persisted path and two copies (on two nodes).
  auto created = Cluster::Api(agents[0], "POST", "/v1/sites?ack=all-live",
                              json{{"name", kSite},
                                   {"domains", {"files.example.com"}},
                                   {"min", 2},
                                   {"max", 3},
                                   {"persist", {"www/data"}}}
                                  .dump());
  REQUIRE(created);
  INFO(created->second.dump());
  REQUIRE(created->first == 200);
  const json push = {
      {"path", FilesImage(cluster.dir()).string()},
      {"command", {"/bin/busybox", "sh", "-c", "exec /bin/busybox httpd -f -p $PORT -h /www"}}};
  auto pushed = Cluster::Api(agents[0], "POST",
                             "/v1/images/" + std::string(kSite) + "?ack=all-live", push.dump(), 60);
  REQUIRE(pushed);
  REQUIRE(pushed->first == 200);
  std::map<std::string, Copy> copies;
  REQUIRE(WaitFor(std::chrono::seconds(60), [&] {
    copies = ServingByNode(cluster);
    return copies.size() == 2;
  }));
  const auto host = [&](const std::string& node) { return Named(cluster, node).host; };
  const Copy a = copies.begin()->second, b = std::next(copies.begin())->second;

  // Written through copy A, read through copy B at once.
  CHECK(Get(host(a.node), a.port, "/cgi-bin/put?hello") ==
        std::pair<int, std::string>{200, "ok\n"});
  CHECK(Get(host(b.node), b.port, "/data/hello") == std::pair<int, std::string>{200, "hello\n"});
  // On every brick, not in any copy's own layer.
  for (const auto& agent : agents) {
    CHECK(fs::exists(cluster.dir() / agent.name / "glusterfs" / "brick" / "sites" / kSite /
                     "www+data" / "hello"));
  }
  // An operator's view through a worker's API: `files get`, and `files put` read by a copy.
  const std::string cli =
      fmt::format("{} --api {}:{} ", STARLING_BINARY, agents[0].host, agents[0].api_port);
  CHECK(RunCommand(cli + "files get files www/data/hello") == "hello\n");
  std::ofstream(cluster.dir() / "put.txt") << "put by an operator\n";
  CHECK_THAT(RunCommand(cli + "files put files www/data/put.txt " +
                        (cluster.dir() / "put.txt").string() + " 2>&1"),
             Catch::Contains("written"));
  CHECK(Get(host(b.node), b.port, "/data/put.txt") ==
        std::pair<int, std::string>{200, "put by an operator\n"});
  // Outside the persisted paths nothing is served (the image's own files are not on the volume).
  CHECK_THAT(RunCommand(cli + "files get files www/index.html 2>&1"),
             Catch::Contains("under none of files's persisted paths"));
  CHECK_THAT(RunCommand(cli + "files get files www/data/none 2>&1"),
             Catch::Contains("no www/data/none"));

  // A's node is drained: its copy starts on the third node, and the file is there.
  auto drained = Cluster::Api(agents[1], "PUT", "/v1/drain/" + a.node + "?ack=all-live");
  REQUIRE(drained);
  REQUIRE(drained->first == 200);
  REQUIRE(WaitFor(std::chrono::seconds(60), [&] {
    copies = ServingByNode(cluster);
    return copies.size() == 2 && !copies.contains(a.node);
  }));
  for (const auto& [node, copy] : copies) {
    INFO(node);
    CHECK(Get(host(node), copy.port, "/data/hello") == std::pair<int, std::string>{200, "hello\n"});
  }
  auto undrained = Cluster::Api(agents[1], "DELETE", "/v1/drain/" + a.node + "?ack=all-live");
  REQUIRE(undrained);

  // A storage node's machine dies during a bounded stream of fsync'd writes through a copy on
  // another node: every acknowledged write is there afterwards, on every brick once it heals.
  const auto writer = copies.begin();  // a serving copy; the victim is a node without it
  std::string victim;
  for (const auto& agent : agents) {
    if (agent.name != writer->first) victim = agent.name;
  }
  const int victim_index = std::stoi(victim.substr(victim.find('-') + 1));
  std::vector<std::string> acknowledged;
  size_t refused = 0;
  const auto stream_start = std::chrono::steady_clock::now();
  for (int i = 0;
       i < 200 && std::chrono::steady_clock::now() - stream_start < std::chrono::seconds(90); ++i) {
    if (i == 40) lab.Crash(victim_index);
    const std::string name = fmt::format("w{}", i);
    const auto [code, body] =
        Get(host(writer->first), writer->second.port, "/cgi-bin/put?" + name, 30);
    if (code == 200 && body == "ok\n") {
      acknowledged.push_back(name);
    } else {
      ++refused;
    }
  }
  WARN(acknowledged.size() << " writes acknowledged, " << refused
                           << " refused, while a storage node died at the 40th");
  CHECK(acknowledged.size() >= 150);
  auto read_all = [&](const std::string& node, uint16_t port) {
    size_t found = 0;
    for (const auto& name : acknowledged) {
      found +=
          Get(host(node), port, "/data/" + name) == std::pair<int, std::string>{200, name + "\n"};
    }
    return found;
  };
  CHECK(read_all(writer->first, writer->second.port) == acknowledged.size());
  // The machine returns: its agent starts, its brick comes back and heals.
  REQUIRE(lab.In(victim_index, "ip link set eth0 up") == 0);
  cluster.Start(Named(cluster, victim));
  const auto heal_start = std::chrono::steady_clock::now();
  const bool healed =
      WaitFor(std::chrono::seconds(180), [&] { return VolumeReady(cluster, 3, true); });
  INFO(DescribeFiles(cluster));
  REQUIRE(healed);
  WARN("the returning node healed "
       << std::chrono::duration<double>(std::chrono::steady_clock::now() - heal_start).count()
       << " s after its agent started");
  size_t on_victim = 0;
  for (const auto& name : acknowledged) {
    on_victim += fs::exists(cluster.dir() / victim / "glusterfs" / "brick" / "sites" / kSite /
                            "www+data" / name);
  }
  CHECK(on_victim == acknowledged.size());

  // A partition of one node: its copy's writes are refused (client quorum), the others' go on;
  // after the heal no file is in split-brain and every copy reads the majority's writes.
  REQUIRE(WaitFor(std::chrono::seconds(60), [&] { return ServingByNode(cluster).size() >= 2; }));
  copies = ServingByNode(cluster);
  const std::string cut = copies.begin()->first;
  const Copy on_cut = copies.begin()->second;
  const Copy on_majority = std::next(copies.begin())->second;
  const std::string majority = std::next(copies.begin())->first;
  const int cut_index = std::stoi(cut.substr(cut.find('-') + 1));
  REQUIRE(lab.In(cut_index, "ip link set eth0 down") == 0);
  // The test reaches the cut node's copy no more (its link is down): its refusal is checked
  // from inside its namespace.
  bool majority_wrote = false;
  REQUIRE(WaitFor(std::chrono::seconds(30), [&] {
    majority_wrote = Get(host(majority), on_majority.port, "/cgi-bin/put?majority", 15) ==
                     std::pair<int, std::string>{200, "ok\n"};
    return majority_wrote;
  }));
  const std::string minority_said = RunCommand(fmt::format(
      "nsenter --net=/run/netns/{}-{} -- curl -sf -m 20 http://{}:{}/cgi-bin/put?minority "
      "2>&1; echo exit=$?",
      lab.name(), cut_index, host(cut), on_cut.port));
  INFO(minority_said);
  CHECK_THAT(minority_said, !Catch::Contains("ok\nexit=0"));
  REQUIRE(lab.In(cut_index, "ip link set eth0 up") == 0);
  const bool rejoined =
      WaitFor(std::chrono::seconds(120), [&] { return VolumeReady(cluster, 3, true); });
  INFO(DescribeFiles(cluster));
  CHECK(rejoined);
  REQUIRE(WaitFor(std::chrono::seconds(30), [&] {
    return Get(host(cut), on_cut.port, "/data/majority") ==
           std::pair<int, std::string>{200, "majority\n"};
  }));

  // A quota: the site may keep 1 MiB of files; once the keeper set the limit, writes past it
  // are refused (600 KiB each: the first fits, one overshoot at most, then none).
  auto limited =
      Cluster::Api(agents[0], "PATCH", std::string("/v1/sites/") + kSite + "?ack=all-live",
                   json{{"files_quota_mb", 1}}.dump());
  REQUIRE(limited);
  REQUIRE(limited->first == 200);
  const bool limit_set = WaitFor(std::chrono::seconds(90), [&] {
    for (const auto& [name, state] : FilesState(cluster)) {
      const json quota = state.value("storage", json::object()).value("quota", json::object());
      if (quota.contains(kSite) && quota[kSite].value("limit_set", false)) return true;
    }
    return false;
  });
  INFO(DescribeFiles(cluster));
  REQUIRE(limit_set);
  copies = ServingByNode(cluster);
  REQUIRE_FALSE(copies.empty());
  const auto& [fill_node, fill_copy] = *copies.begin();
  std::vector<int> answers;
  for (int i = 0; i < 5; ++i) {
    answers.push_back(
        Get(host(fill_node), fill_copy.port, fmt::format("/cgi-bin/fill?big-{}", i), 30).first);
  }
  INFO(fmt::format("{}", fmt::join(answers, " ")));
  CHECK(answers[0] == 200);
  CHECK(std::count(answers.begin(), answers.end(), 503) >= 3);
  CHECK_THAT(RunCommand(cli + "files status"),
             Catch::Contains("quota    files: ") && Catch::Contains(" of 1 MB"));
}

}  // namespace
