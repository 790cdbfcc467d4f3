// The images: `image push|ls|show|status|rm|verify`.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>

#include "src/cli/archive_writer.h"
#include "src/cli/commands.h"

namespace starling::cli {
namespace {

int PrintVersions(const Json& versions) {
  std::printf("%-20s %-14s %-3s %8s %10s %8s %-10s %s\n", "SITE", "VERSION", "CUR", "FILES", "SIZE",
              "CHUNKS", "HERE", "COMMAND");
  for (const auto& v : versions) {
    std::string command;
    for (const auto& arg : v["command"]) {
      command += (command.empty() ? "" : " ") + arg.get<std::string>();
    }
    const std::string here = v.contains("here") ? v["here"]["phase"].get<std::string>() : "-";
    std::printf(
        "%-20s %-14s %-3s %8llu %10s %8llu %-10s %s\n", v["site"].get<std::string>().c_str(),
        v["version"].get<std::string>().substr(0, 12).c_str(), v.value("current", false) ? "*" : "",
        static_cast<unsigned long long>(v["files"].get<uint64_t>()),
        Bytes(v["bytes"].get<double>()).c_str(),
        static_cast<unsigned long long>(v["chunks"].get<uint64_t>()), here.c_str(),
        command.c_str());
  }
  return 0;
}

int PrintVersionsInFull(const Json& versions) {
  for (const auto& v : versions) {
    std::string command;
    for (const auto& arg : v["command"]) {
      command += (command.empty() ? "" : " ") + arg.get<std::string>();
    }
    std::printf("%s version %s%s\n", v["site"].get<std::string>().c_str(),
                v["version"].get<std::string>().c_str(),
                v.value("current", false) ? " (current)" : "");
    std::printf("  %llu files, %s, %llu chunks (%llu of manifest)\n",
                static_cast<unsigned long long>(v["files"].get<uint64_t>()),
                Bytes(v["bytes"].get<double>()).c_str(),
                static_cast<unsigned long long>(v["chunks"].get<uint64_t>()),
                static_cast<unsigned long long>(v["manifest_chunks"].get<uint64_t>()));
    std::printf("  pushed by %s, command: %s\n", v["pushed_by"].get<std::string>().c_str(),
                command.empty() ? "(none)" : command.c_str());
    if (v.contains("here")) {
      const Json& here = v["here"];
      std::printf(
          "  here: %s, %llu chunks missing%s%s\n", here["phase"].get<std::string>().c_str(),
          static_cast<unsigned long long>(here["missing"].get<uint64_t>()),
          here.value("materialized", false) ? ", materialized" : "",
          here.contains("error") ? (", error: " + here["error"].get<std::string>()).c_str() : "");
    }
  }
  return 0;
}

// One line per version: nodes complete, and each node's chunks held.
std::string StatusLine(const Json& version) {
  uint64_t held = 0, of = 0;
  for (const auto& [name, node] : version["nodes"].items()) {
    held += node.value("held", uint64_t{0});
    of += node.value("of", uint64_t{0});
  }
  const double fraction = of == 0 ? 0 : static_cast<double>(held) / static_cast<double>(of);
  return fmt::format(
      "{} {}/{} live nodes hold it, {:.0f}% of chunks placed; {}/{} workers can "
      "start copies of it",
      version["version"].get<std::string>().substr(0, 12),
      version["complete_live_nodes"].get<size_t>(), version["live_nodes"].get<size_t>(),
      100 * fraction, version.value("runnable_runners", size_t{0}),
      version.value("runners", size_t{0}));
}

int PrintStatus(const Json& status) {
  for (const auto& version : status["versions"]) {
    std::printf("%s\n", StatusLine(version).c_str());
    std::printf("  %-24s %10s %10s %-9s %s\n", "NODE", "HELD", "OF", "COMPLETE", "MATERIALIZED");
    for (const auto& [name, node] : version["nodes"].items()) {
      std::printf(
          "  %-24s %10llu %10llu %-9s %s%s\n", name.c_str(),
          static_cast<unsigned long long>(node.value("held", uint64_t{0})),
          static_cast<unsigned long long>(node.value("of", uint64_t{0})),
          node.value("complete", false) ? "yes" : "no",
          node.value("materialized", false) ? "yes" : "no",
          node.contains("error") ? ("  error: " + node["error"].get<std::string>()).c_str() : "");
    }
  }
  return 0;
}

// Polls the site's status until `version` is held by every live node (or `wait_s` passes),
// drawing a bar on a terminal (not with --json); piped output gets the final line only. The
// version's last status line and entry, or why not.
Result<Json> WaitForSpread(const Globals& g, const std::string& site, const std::string& version,
                           int wait_s) {
  const bool tty = !g.json && ::isatty(STDOUT_FILENO) != 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
  for (;;) {
    auto status = Call(g.api, "GET", "/v1/images/" + site + "/status");
    if (!status.ok()) return status.status();
    const Json* mine = nullptr;
    for (const auto& v : (*status)["versions"]) {
      if (v["version"] == version) mine = &v;
    }
    if (mine == nullptr) return Status::NotFound("version " + version + " is no longer listed");
    const std::string line = StatusLine(*mine);
    const size_t done = (*mine)["complete_live_nodes"], all = (*mine)["live_nodes"];
    if (tty) {
      const int width = 30;
      const int filled = all == 0 ? width : static_cast<int>(width * done / all);
      std::printf("\r[%s%s] %s", std::string(filled, '#').c_str(),
                  std::string(width - filled, ' ').c_str(), line.c_str());
      std::fflush(stdout);
    }
    // Done when every live node holds it and every worker has written it out (a copy can
    // start there at once, from a snapshot).
    const size_t runnable = mine->value("runnable_runners", size_t{0});
    const size_t runners = mine->value("runners", size_t{0});
    if (done >= all && runnable >= runners) {
      if (!g.json) std::printf(tty ? "\n" : "%s\n", line.c_str());
      return *mine;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      if (tty) std::printf("\n");
      return Status::Timeout(
          "not every live node holds the version, or not every worker can "
          "start it, after " +
          std::to_string(wait_s) + " s (" + line + "); see `starling image " + "status " + site +
          "`");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling the agent
  }
}

struct State {
  std::string site, path, command, version, stack;
  std::vector<std::string> env;
  bool allow_setuid = false, no_wait = false, watch = false;
  int wait_s = 600;
  WriteFlags write;
};

// The docroot of `stack`'s newest version.
Result<std::string> StackDocroot(const Globals& g, const std::string& stack) {
  auto stacks = Call(g.api, "GET", "/v1/stacks");
  if (!stacks.ok()) return stacks.status();
  for (const auto& one : (*stacks)["stacks"]) {
    if (one["name"] == stack && !one["versions"].empty()) {
      return one["versions"][0]["docroot"].get<std::string>();
    }
  }
  return Status::NotFound("no stack '" + stack + "' (starling stack ls)");
}

int Push(const Globals& g, const State& s) {
  // The push's fields ride in a header; the archive is the body.
  Json body = Json::object();
  // Kept as written: the copy's /bin/sh runs it, so $PORT is the copy's, not this shell's.
  if (!s.command.empty()) body["command"] = s.command;
  if (!s.env.empty()) {
    auto env = EnvObject(s.env);
    if (!env.ok()) return Fail(env.status());
    body["env"] = *env;
  }
  if (s.allow_setuid) body["allow_setuid"] = true;
  std::error_code ec;
  if (!std::filesystem::exists(s.path, ec)) {
    return Fail(Status::NotFound("'" + s.path + "' does not exist"));
  }
  // On a stack, the tree goes at the stack's docroot: the site's files are the top layer there.
  std::string docroot;
  if (!s.stack.empty()) {
    if (!std::filesystem::is_directory(s.path, ec)) {
      return Fail(
          Status::InvalidArgument("--stack takes a directory (it is packed under the "
                                  "stack's docroot)"));
    }
    auto root = StackDocroot(g, s.stack);
    if (!root.ok()) return Fail(root.status());
    docroot = *root;
    body["stack"] = s.stack;
  }
  // A directory is walked here, on the user's side, into an archive; an archive goes as it is.
  std::string archive = s.path;
  if (std::filesystem::is_directory(s.path, ec)) {
    if (!g.json && ::isatty(STDOUT_FILENO)) std::printf("packing %s ...\n", s.path.c_str());
    auto packed = ArchiveDirectory(s.path, docroot);
    if (!packed.ok()) return Fail(packed.status());
    archive = *packed;
  }
  auto result = Upload(g.api, "/v1/images/" + s.site + "/archive" + s.write.Query(), archive,
                       {"X-Starling-Push: " + body.dump()}, 3600);
  if (archive != s.path) std::filesystem::remove(archive, ec);
  if (!result.ok()) return Fail(result.status());
  Json r = *result;
  if (!g.json) {
    std::printf("%s version %s: %llu files, %s (%s read, %llu new chunks, %s), %.2f s\n",
                s.site.c_str(), r["version"].get<std::string>().c_str(),
                static_cast<unsigned long long>(r["files"].get<uint64_t>()),
                Bytes(r["bytes"].get<double>()).c_str(),
                Bytes(r["bytes_read"].get<double>()).c_str(),
                static_cast<unsigned long long>(r["new_chunks"].get<uint64_t>()),
                Bytes(r["new_chunk_bytes"].get<double>()).c_str(), r["seconds"].get<double>());
    if (const uint64_t devices = r.value("devices_skipped", uint64_t{0}); devices > 0) {
      std::printf("left out %llu device nodes under dev/ (the runtime provides /dev)\n",
                  static_cast<unsigned long long>(devices));
    }
    if (const uint64_t xattrs = r.value("xattrs_dropped", uint64_t{0}); xattrs > 0) {
      std::printf("left out %llu extended attributes outside user.* (never applied on a node)\n",
                  static_cast<unsigned long long>(xattrs));
    }
  }
  if (!s.no_wait) {
    auto spread = WaitForSpread(g, s.site, r["version"], s.wait_s);
    if (!spread.ok()) return Fail(spread.status());
    r["spread"] = {{"complete_live_nodes", (*spread)["complete_live_nodes"]},
                   {"live_nodes", (*spread)["live_nodes"]}};
  }
  return g.json ? PrintJson(r) : 0;
}

}  // namespace

void AddImageCommands(CLI::App& app, Globals* g, int* exit_code) {
  auto s = std::make_shared<State>();
  auto* image = app.add_subcommand("image", "Site images: push, list, spread, remove");
  image->require_subcommand(1);

  auto* push = image->add_subcommand(
      "push", "Import a directory or tar archive as the site's new version and spread it");
  push->add_option("site", s->site, "Site name")->required();
  push->add_option("path", s->path, "Directory or tar archive (plain, gz, xz, zst, bz2)")
      ->required();
  push->add_option("--command", s->command,
                   "Start command, run by the image's /bin/sh inside each copy, kept as "
                   "written (single-quote it here): e.g. 'exec php -S 0.0.0.0:$PORT -t /app'. "
                   "$PORT is the port the copy listens on; start with exec so it gets the "
                   "stop signal");
  push->add_option("--env", s->env, "NAME=VALUE for the start command (repeat)");
  push->add_option("--stack", s->stack,
                   "Layer the directory on this stack (starling stack ls), at its docroot; the "
                   "start command and env default to the stack's");
  push->add_flag("--allow-setuid", s->allow_setuid, "Accept setuid/setgid files");
  push->add_flag("--no-wait", s->no_wait, "Return once imported, before it spreads");
  push->add_option("--wait-s", s->wait_s, "Give up waiting for every node after (default 600)");
  AddWriteFlags(push, &s->write);
  AddJsonFlag(push, g);
  OnRun(push, exit_code, [g, s] { return Push(*g, *s); });

  auto* ls = image->add_subcommand("ls", "List image versions (newest first)");
  ls->add_option("site", s->site, "Only this site");
  AddJsonFlag(ls, g);
  OnRun(ls, exit_code, [g, s]() -> int {
    auto answer = Call(g->api, "GET", s->site.empty() ? "/v1/images" : "/v1/images/" + s->site);
    if (!answer.ok()) return Fail(answer.status());
    return g->json ? PrintJson(*answer) : PrintVersions((*answer)["versions"]);
  });

  auto* show = image->add_subcommand("show", "Show a site's versions in full");
  show->add_option("site", s->site, "Site name")->required();
  show->add_option("version", s->version, "Only this version (a prefix will do)");
  AddJsonFlag(show, g);
  OnRun(show, exit_code, [g, s]() -> int {
    auto answer = Call(g->api, "GET", "/v1/images/" + s->site);
    if (!answer.ok()) return Fail(answer.status());
    Json versions = Json::array();
    for (const auto& v : (*answer)["versions"]) {
      if (v["version"].get<std::string>().starts_with(s->version)) versions.push_back(v);
    }
    if (versions.empty()) {
      return Fail(Status::NotFound(s->version.empty()
                                       ? "site '" + s->site + "' has no image"
                                       : "no version " + s->version + " of " + s->site));
    }
    return g->json ? PrintJson({{"versions", versions}}) : PrintVersionsInFull(versions);
  });

  auto* status = image->add_subcommand("status", "Which nodes hold which version");
  status->add_option("site", s->site, "Site name")->required();
  status->add_flag("--watch", s->watch, "Follow the newest version until every node holds it");
  status->add_option("--wait-s", s->wait_s, "With --watch: give up after (default 600)");
  AddJsonFlag(status, g);
  OnRun(status, exit_code, [g, s]() -> int {
    if (s->watch) {
      auto list = Call(g->api, "GET", "/v1/images/" + s->site);
      if (!list.ok()) return Fail(list.status());
      if ((*list)["versions"].empty()) {
        return Fail(Status::NotFound("site '" + s->site + "' has no image"));
      }
      auto spread = WaitForSpread(*g, s->site, (*list)["versions"][0]["version"], s->wait_s);
      if (!spread.ok()) return Fail(spread.status());
      return g->json ? PrintJson(*spread) : 0;
    }
    auto answer = Call(g->api, "GET", "/v1/images/" + s->site + "/status");
    if (!answer.ok()) return Fail(answer.status());
    return g->json ? PrintJson(*answer) : PrintStatus(*answer);
  });

  auto* rm = image->add_subcommand("rm", "Remove a version, or every version of a site");
  rm->add_option("site", s->site, "Site name")->required();
  rm->add_option("version", s->version, "The version (64 hex digits); all if omitted");
  AddWriteFlags(rm, &s->write);
  AddJsonFlag(rm, g);
  OnRun(rm, exit_code, [g, s]() -> int {
    const std::string path = "/v1/images/" + s->site + (s->version.empty() ? "" : "/" + s->version);
    auto answer = Call(g->api, "DELETE", path + s->write.Query(), nullptr, s->write.WaitSeconds());
    if (!answer.ok()) return Fail(answer.status());
    if (g->json) return PrintJson(*answer);
    std::printf("removed %llu version(s) of %s\n",
                static_cast<unsigned long long>((*answer)["removed_versions"].get<uint64_t>()),
                s->site.c_str());
    return 0;
  });

  auto* verify = image->add_subcommand("verify", "Re-verify every stored chunk on this node now");
  AddJsonFlag(verify, g);
  OnRun(verify, exit_code, [g]() -> int {
    auto answer = Call(g->api, "POST", "/v1/images-verify");
    if (!answer.ok()) return Fail(answer.status());
    if (g->json) return PrintJson(*answer);
    std::printf("verifying every stored chunk on this node (see /metrics)\n");
    return 0;
  });
}

}  // namespace starling::cli
