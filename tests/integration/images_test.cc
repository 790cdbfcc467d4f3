// [integration] site images across 4 real agents: push on one, every node holds and verifies it;
// the source dies mid-transfer and the others finish from each other; a chunk corrupted on disk
// is found and fetched again; a 1 %-changed version moves only its new chunks, and the old
// version's chunks are collected.
#include <random>
#include <set>

#include "store/rocksdb/chunk_store.h"
#include "tests/integration/cluster.h"

namespace {

using namespace starling::testing;
using starling::images::ChunkStore;

// A deterministic tree: `files` files of 1–400 KiB of random (incompressible) bytes, a few
// directories, a symlink, one duplicate file.
void MakeTree(const fs::path& root, int files, uint64_t seed) {
  std::mt19937_64 rng(seed);
  fs::create_directories(root / "www" / "assets");
  fs::create_directories(root / "lib");
  for (int i = 0; i < files; ++i) {
    const fs::path dir = i % 3 == 0   ? root / "www"
                         : i % 3 == 1 ? root / "www" / "assets"
                                      : root / "lib";
    std::string bytes(1024 + rng() % (400 << 10), '\0');
    for (auto& b : bytes) b = static_cast<char>(rng());
    std::ofstream(dir / fmt::format("file-{:04}.bin", i), std::ios::binary) << bytes;
  }
  fs::copy_file(root / "www" / "file-0000.bin", root / "lib" / "copy-of-0.bin");
  fs::create_symlink("www/file-0000.bin", root / "link");
}

// Edits 1 % of the files in place: a few bytes in the middle.
std::vector<fs::path> EditOnePercent(const fs::path& root, uint64_t seed) {
  std::vector<fs::path> all;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file() && !entry.is_symlink()) all.push_back(entry.path());
  }
  std::sort(all.begin(), all.end());
  std::mt19937_64 rng(seed);
  std::vector<fs::path> edited;
  for (size_t n = 0; n < std::max<size_t>(1, all.size() / 100); ++n) {
    const fs::path& path = all[rng() % all.size()];
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(fs::file_size(path) / 2));
    file << "edited by the test " << n;
    edited.push_back(path);
  }
  return edited;
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Same relative paths, kinds and contents (the materialized tree against the pushed one).
bool SameTree(const fs::path& a, const fs::path& b) {
  std::map<std::string, std::string> left, right;
  auto collect = [](const fs::path& root, std::map<std::string, std::string>* out) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const std::string rel = fs::relative(it->path(), root).string();
      if (it->is_symlink()) {
        (*out)[rel] = "link:" + fs::read_symlink(it->path()).string();
      } else if (it->is_directory()) {
        (*out)[rel] = "dir";
      } else {
        (*out)[rel] = ReadAll(it->path());
      }
    }
  };
  collect(a, &left);
  collect(b, &right);
  return !left.empty() && left == right;
}

// The node's entry for `version` in `observer`'s status of `site`.
std::optional<json> NodeStatus(const Cluster::Agent& observer, const std::string& site,
                               const std::string& version, const std::string& node) {
  auto status = Cluster::Api(observer, "GET", "/v1/images/" + site + "/status");
  if (!status || status->first != 200) return std::nullopt;
  for (const auto& v : status->second["versions"]) {
    if (v["version"] == version && v["nodes"].contains(node)) return v["nodes"][node];
  }
  return std::nullopt;
}

bool Holds(const Cluster::Agent& agent, const std::string& site, const std::string& version) {
  auto mine = NodeStatus(agent, site, version, agent.name);
  return mine && mine->value("complete", false) && mine->value("materialized", false);
}

std::string Push(const Cluster::Agent& agent, const std::string& site, const fs::path& tree,
                 json* summary) {
  const std::string body = json{{"path", tree.string()}, {"command", {"/bin/true"}}}.dump();
  auto pushed = Cluster::Api(agent, "POST", "/v1/images/" + site + "?ack=all-live", body, 120);
  REQUIRE(pushed);
  INFO(pushed->second.dump());
  REQUIRE(pushed->first == 200);
  *summary = pushed->second;
  return pushed->second["version"];
}

fs::path ImageDir(const Cluster& cluster, const Cluster::Agent& agent, const std::string& site,
                  const std::string& version) {
  return cluster.dir() / agent.name / "images" / site / version;
}

TEST_CASE(
    "an image spreads to every node, survives its source's death, heals a corrupt chunk, "
    "and a new version moves only new chunks",
    "[integration][images]") {
  Cluster cluster;
  // A bandwidth bound slows the first spread enough to kill the source mid-transfer.
  const std::string images = "[images]\nbandwidth_mb_s = 6\nkeep_versions = 1\nscrub_mb_s = 200\n";
  for (int i = 1; i <= 4; ++i) cluster.Add("node-" + std::to_string(i), {}, images);
  for (auto& agent : cluster.agents()) cluster.Start(agent);
  auto& agents = cluster.agents();
  REQUIRE(cluster.WaitAllAlive(4, std::chrono::seconds(20)));

  auto created = Cluster::Api(agents[0], "POST", "/v1/sites?ack=all-live",
                              R"({"name":"shop","domains":["shop.example.com"]})");
  REQUIRE(created);
  INFO(created->second.dump());
  REQUIRE(created->first == 200);

  SECTION("bad pushes are refused and change nothing") {
    auto relative = Cluster::Api(agents[0], "POST", "/v1/images/shop", R"({"path":"tree"})");
    REQUIRE(relative);
    CHECK(relative->first == 400);
    auto no_site = Cluster::Api(agents[0], "POST", "/v1/images/nosuch", R"({"path":"/tmp"})");
    REQUIRE(no_site);
    CHECK(no_site->first == 404);
    auto missing =
        Cluster::Api(agents[0], "POST", "/v1/images/shop", R"({"path":"/nonexistent/tree"})");
    REQUIRE(missing);
    CHECK(missing->first == 404);
    auto list = Cluster::Api(agents[0], "GET", "/v1/images/shop");
    REQUIRE(list);
    CHECK(list->second["versions"].empty());
  }

  SECTION("spread, source death, corruption, new version") {
    const fs::path tree = cluster.dir() / "tree";
    MakeTree(tree, 240, 7);  // ~48 MB: ~8 s at 6 MB/s per puller

    json first;
    const std::string v1 = Push(agents[0], "shop", tree, &first);
    CHECK(WaitFor(std::chrono::seconds(10), [&] { return Holds(agents[0], "shop", v1); }));

    // Kill the source as soon as the pullers hold everything between them (no chunk missing
    // at all three), while they still miss something: they must finish from each other. (One
    // of them may have finished already when the others' holdings first cover the image — the
    // pullers fetch from each other all along, and polling three agents takes a while under
    // ASan — so what is required is that some puller is still mid-transfer at the kill.)
    int mid_transfer = 0;
    REQUIRE(WaitFor(std::chrono::seconds(60), [&] {
      std::map<std::string, int> missing_at;
      mid_transfer = 0;
      for (int i = 1; i < 4; ++i) {
        auto missing = Cluster::Api(agents[i], "GET", "/v1/images/shop/" + v1 + "/missing");
        if (!missing || missing->first != 200 || !missing->second["manifest_loaded"]) return false;
        if (missing->second["count"] > 0) ++mid_transfer;
        for (const auto& hash : missing->second["missing"]) ++missing_at[hash];
      }
      for (const auto& [hash, count] : missing_at) {
        if (count == 3) return false;
      }
      return true;
    }));
    Cluster::Kill(agents[0], SIGKILL);
    CHECK(mid_transfer >= 1);

    for (int i = 1; i < 4; ++i) {
      INFO(agents[i].name);
      CHECK(WaitFor(std::chrono::seconds(60), [&] { return Holds(agents[i], "shop", v1); }));
      CHECK(SameTree(tree, ImageDir(cluster, agents[i], "shop", v1)));
    }

    // Corrupt a stored chunk of node-2 while it is down; at restart the scrub finds it.
    Cluster::Kill(agents[1], SIGTERM);
    starling::images::Hash victim{};
    {
      auto store = ChunkStore::Open((cluster.dir() / agents[1].name / "chunks").string());
      REQUIRE(store.ok());
      auto all = (*store)->List();
      REQUIRE(all.ok());
      REQUIRE(all->size() > 10);
      victim = (*all)[all->size() / 2];
      REQUIRE((*store)->CorruptForTest(victim, "not the bytes that were stored").ok());
      CHECK((*store)->Get(victim).status().code() == starling::StatusCode::kCorruption);
    }
    cluster.Start(agents[1]);
    CHECK(WaitFor(std::chrono::seconds(30), [&] {
      auto found =
          Cluster::Metric(agents[1], R"(starling_image_chunks_total{kind="corrupt_found"})");
      return found && *found >= 1 && Holds(agents[1], "shop", v1);
    }));

    // A version with 1 % of files edited, pushed on node-3: the others fetch only new chunks.
    const auto edited = EditOnePercent(tree, 11);
    std::map<std::string, uint64_t> fetched_before;
    for (int i = 1; i < 4; ++i) {
      fetched_before[agents[i].name] =
          Cluster::Metric(agents[i], R"(starling_image_chunks_total{kind="fetched"})").value_or(0);
    }
    json second;
    const std::string v2 = Push(agents[2], "shop", tree, &second);
    CHECK(v2 != v1);
    CHECK(second["bytes_read"].get<uint64_t>() < second["bytes"].get<uint64_t>() / 20);
    const uint64_t new_chunks =
        second["new_chunks"].get<uint64_t>() + second["manifest_chunks"].get<uint64_t>();
    CHECK(second["new_chunks"].get<uint64_t>() >= edited.size());
    CHECK(second["new_chunks"].get<uint64_t>() <= 3 * edited.size());
    for (int i = 1; i < 4; ++i) {
      INFO(agents[i].name);
      CHECK(WaitFor(std::chrono::seconds(30), [&] { return Holds(agents[i], "shop", v2); }));
      CHECK(SameTree(tree, ImageDir(cluster, agents[i], "shop", v2)));
      if (i == 2) continue;  // the pusher fetched nothing
      const uint64_t fetched =
          Cluster::Metric(agents[i], R"(starling_image_chunks_total{kind="fetched"})").value_or(0);
      CHECK(fetched - fetched_before[agents[i].name] <= new_chunks);
      CHECK(fetched - fetched_before[agents[i].name] >= second["new_chunks"].get<uint64_t>());
    }

    // keep_versions = 1: v1 is removed everywhere, its own chunks and tree collected.
    for (int i = 1; i < 4; ++i) {
      INFO(agents[i].name);
      CHECK(WaitFor(std::chrono::seconds(20), [&] {
        auto collected =
            Cluster::Metric(agents[i], R"(starling_image_chunks_total{kind="collected"})");
        return collected && *collected >= edited.size() &&
               !fs::exists(ImageDir(cluster, agents[i], "shop", v1));
      }));
    }
    auto list = Cluster::Api(agents[1], "GET", "/v1/images/shop");
    REQUIRE(list);
    REQUIRE(list->second["versions"].size() == 1);
    CHECK(list->second["versions"][0]["version"] == v2);
  }
}

}  // namespace
