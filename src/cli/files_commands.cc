// The site files' volume (issue 19, docs/FILES.md): `files status` — every storage node's
// glusterd, the volume as it knows it, its brick and heal backlog, and every worker's mount;
// `files get SITE PATH` and `files put SITE PATH [FILE]` — one of a site's files, through the
// worker the CLI speaks to.
#include <sys/stat.h>
#include <unistd.h>

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
  // Each site's quota and use, as the keeper reports them.
  for (const auto& node : all) {
    const Json quota = node.value("storage", Json::object()).value("quota", Json::object());
    for (const auto& [site, use] : quota.items()) {
      const std::string used = use.value("used_bytes", Json()).is_number()
                                   ? Bytes(use["used_bytes"].get<double>())
                                   : std::string("?");
      std::printf("quota    %s: %s of %u MB%s\n", site.c_str(), used.c_str(),
                  use.value("limit_mb", 0u),
                  use.value("limit_set", false) ? ""
                                                : " (not set yet: its directory is made when a "
                                                  "copy first starts)");
    }
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

struct State {
  std::string site, path, file;
};

constexpr int kTransferTimeoutS = 3600;

}  // namespace

void AddFilesCommands(CLI::App& app, Globals* g, int* exit_code) {
  auto s = std::make_shared<State>();
  auto* files = app.add_subcommand("files", "The sites' persisted files (GlusterFS volume)");
  files->require_subcommand(1);
  auto* status = files->add_subcommand(
      "status",
      "Every storage node's volume, brick and heal backlog (entries still to copy, split-brain "
      "files), and every worker's mount");
  AddJsonFlag(status, g);
  OnRun(status, exit_code, [g]() -> int {
    Json all = Json::array();
    if (Status gathered = Gather(*g, "/v1/files", "nodes", &all); !gathered.ok()) {
      return Fail(gathered);
    }
    if (g->json) return PrintJson(all);
    return PrintStatus(all);
  });

  auto* get = files->add_subcommand(
      "get", "Write one of a site's files (under its document root) to stdout or -o FILE");
  get->add_option("site", s->site, "Site name")->required();
  get->add_option("path", s->path, "e.g. wp-content/uploads/2026/12/logo.png")->required();
  get->add_option("-o,--output", s->file, "Where to (else stdout)");
  OnRun(get, exit_code, [g, s]() -> int {
    const std::string path = "/v1/files/sites/" + s->site + "/" + s->path;
    if (s->file.empty()) {
      auto answer = Download(g->api, path, stdout, 120);
      return answer.ok() ? 0 : Fail(answer.status());
    }
    auto answer = DownloadToFile(g->api, path, s->file, 120);
    return answer.ok() ? 0 : Fail(answer.status());
  });

  auto* put = files->add_subcommand(
      "put",
      "Write FILE (or stdin, when it is a file) as one of a site's files; its directory must "
      "exist, the file is replaced whole");
  put->add_option("site", s->site, "Site name")->required();
  put->add_option("path", s->path, "e.g. wp-content/uploads/2026/12/logo.png")->required();
  put->add_option("file", s->file, "The file to send (default: stdin)");
  AddJsonFlag(put, g);
  OnRun(put, exit_code, [g, s]() -> int {
    const std::string file = s->file.empty() ? "/proc/self/fd/0" : s->file;
    struct stat in {};
    if (s->file.empty() && (::fstat(STDIN_FILENO, &in) != 0 || !S_ISREG(in.st_mode))) {
      return Fail(Status::InvalidArgument(
          "give the file as FILE, or on stdin from a file (files put SITE PATH < FILE)"));
    }
    auto answer = Upload(g->api, "/v1/files/sites/" + s->site + "/" + s->path, file, {},
                         kTransferTimeoutS, "the file");
    if (!answer.ok()) return Fail(answer.status());
    if (g->json) return PrintJson(*answer);
    std::printf("%s of %s written (%s)\n", s->path.c_str(), s->site.c_str(),
                Bytes((*answer)["bytes"].get<double>()).c_str());
    return 0;
  });
}

}  // namespace starling::cli
