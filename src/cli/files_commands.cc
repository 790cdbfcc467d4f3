// The site files' volume (issue 19, docs/FILES.md): `files status` — every storage node's
// glusterd, the volume as it knows it, its brick and heal backlog, and every worker's mount.
#include <cstdio>
#include <memory>

#include "src/cli/commands.h"

namespace starling::cli {
namespace {

int PrintStatus(const Json& all) {
  std::printf("%-16s %-10s %-5s %7s %8s %-8s %s\n", "NODE", "VOLUME", "BRICK", "HEAL", "SPLIT",
              "MOUNTED", "WHY");
  size_t storage_nodes = 0;
  Json volume;
  for (const auto& node : all) {
    const Json storage = node.value("storage", Json::object());
    const Json mount = node.value("mount", Json::object());
    std::string state = "-", brick = "-", heal = "-", split = "-";
    if (!storage.empty()) {
      ++storage_nodes;
      state = storage.value("state", "?");
      brick = !storage.value("in_volume", false) ? "none"
              : storage.value("brick_up", false) ? "up"
                                                 : "DOWN";
      if (storage.contains("heal") && storage["heal"].is_array()) {
        uint64_t pending = 0, split_brain = 0;
        for (const auto& b : storage["heal"]) {
          pending += b.value("pending", uint64_t{0});
          split_brain += b.value("split_brain", uint64_t{0});
        }
        heal = std::to_string(pending);
        split = std::to_string(split_brain);
      }
      if (storage.contains("volume") && storage["volume"].value("exists", false)) {
        volume = storage["volume"];
      }
    }
    const std::string mounted =
        mount.empty() ? "-" : (mount.value("mounted", false) ? "yes" : "no");
    const std::string why = storage.value("why", mount.value("why", ""));
    std::printf("%-16s %-10s %-5s %7s %8s %-8s %s\n", node["node"].get<std::string>().c_str(),
                state.c_str(), brick.c_str(), heal.c_str(), split.c_str(), mounted.c_str(),
                why.c_str());
  }
  if (storage_nodes == 0) {
    std::printf("(no storage node: give three nodes roles = [\"worker\", \"storage\"])\n");
  } else if (volume.is_object()) {
    std::printf("\nvolume starling %s, replica %u, %zu bricks\n",
                volume.value("started", false) ? "started" : "STOPPED", volume.value("replica", 0u),
                volume.value("bricks", Json::array()).size());
  }
  return 0;
}

}  // namespace

void AddFilesCommands(CLI::App& app, Globals* g, int* exit_code) {
  auto* files = app.add_subcommand("files", "The sites' persisted files (GlusterFS volume)");
  files->require_subcommand(1);
  auto* status = files->add_subcommand(
      "status",
      "Every storage node's volume, brick and heal backlog (entries still to copy, split-brain "
      "files), and every worker's mount");
  AddJsonFlag(status, g);
  OnRun(status, exit_code, [g]() -> int {
    Json all = Json::array();
    if (Status s = Gather(*g, "/v1/files", "nodes", &all); !s.ok()) return Fail(s);
    if (g->json) return PrintJson(all);
    return PrintStatus(all);
  });
}

}  // namespace starling::cli
