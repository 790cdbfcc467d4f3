// The stacks sites are layered on (issue 18, docs/STACKS.md): `stack build NAME` (from the
// recipe Starling ships, with mmdebstrap), `stack push NAME DIR` (a root filesystem of one's own
// with its start command and docroot) and `stack ls`.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>

#include "base/file.h"
#include "src/cli/archive_writer.h"
#include "src/cli/commands.h"
#include "src/process/run.h"
#include "src/stacks/recipe.h"

namespace starling::cli {
namespace {

struct State {
  std::string name, path, command, docroot = "/var/www/html", output, sources;
  std::vector<std::string> env;
  WriteFlags write;
};

// Packs the root filesystem `dir` and pushes it as stack `name`'s new version with `fields`
// (command, docroot, env); prints what the agent says.
int Upload(const Globals& g, const std::string& name, const std::string& dir, const Json& fields,
           const WriteFlags& write) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return Fail(Status::InvalidArgument("'" + dir + "' is not a directory"));
  }
  if (!g.json && ::isatty(STDOUT_FILENO)) std::printf("packing %s ...\n", dir.c_str());
  auto archive = ArchiveDirectory(dir);
  if (!archive.ok()) return Fail(archive.status());
  auto result = cli::Upload(g.api, "/v1/stacks/" + name + "/archive" + write.Query(), *archive,
                            {"X-Starling-Push: " + fields.dump()}, 3600, "the stack");
  std::filesystem::remove(*archive, ec);
  if (!result.ok()) return Fail(result.status());
  if (g.json) return PrintJson(*result);
  const Json& r = *result;
  std::printf("stack %s version %s: %llu files, %s (%llu new chunks, %s), %.2f s\n", name.c_str(),
              r["version"].get<std::string>().c_str(),
              static_cast<unsigned long long>(r["files"].get<uint64_t>()),
              Bytes(r["bytes"].get<double>()).c_str(),
              static_cast<unsigned long long>(r["new_chunks"].get<uint64_t>()),
              Bytes(r["new_chunk_bytes"].get<double>()).c_str(), r["seconds"].get<double>());
  return 0;
}

int PushStack(const Globals& g, const State& s) {
  Json body = {{"docroot", s.docroot}};
  if (!s.command.empty()) {
    body["command"] = s.command;
  } else if (auto recipe = stacks::FindRecipe(s.name); recipe.ok()) {
    // A tree `stack build NAME --output` made: the recipe says how it starts.
    body["command"] = recipe->command;
    body["docroot"] = recipe->docroot;
  } else {
    return Fail(Status::InvalidArgument("a stack needs --command (how a copy starts)"));
  }
  auto env = EnvObject(s.env);
  if (!env.ok()) return Fail(env.status());
  if (!env->empty()) body["env"] = *env;
  return Upload(g, s.name, s.path, body, s.write);
}

// The package sources a build reads: the machine's own, as apt has them.
std::string DefaultSources() {
  for (const char* file : {"/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"}) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(file, ec)) return file;
  }
  return "http://deb.debian.org/debian";
}

// Builds stack `s.name` from its recipe with mmdebstrap, then pushes it (or leaves the tree in
// --output).
int BuildStack(const Globals& g, const State& s) {
  auto recipe = stacks::FindRecipe(s.name);
  if (!recipe.ok()) return Fail(recipe.status());
  if (::geteuid() != 0 || !process::InPath("mmdebstrap")) {
    return Fail(Status::FailedPrecondition(
        "stack build runs mmdebstrap as root (apt-get install mmdebstrap)"));
  }
  char pattern[] = "/var/tmp/starling-stack-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) return Fail(Status::IoError("cannot make a build directory"));
  const std::filesystem::path work = pattern;
  const std::string target = s.output.empty() ? (work / "rootfs").string() : s.output;
  std::error_code ec;
  if (!s.output.empty() && std::filesystem::exists(s.output, ec)) {
    std::filesystem::remove_all(work, ec);
    return Fail(Status::AlreadyExists("'" + s.output + "' exists: give a new directory"));
  }
  auto cleanup = [&] { std::filesystem::remove_all(work, ec); };
  if (Status written = stacks::WriteRecipeFiles(*recipe, (work / "files").string());
      !written.ok()) {
    cleanup();
    return Fail(written);
  }
  const std::string sources = s.sources.empty() ? DefaultSources() : s.sources;
  std::printf("building stack %s (Debian %s, %zu packages) with mmdebstrap from %s ...\n",
              s.name.c_str(), recipe->suite.c_str(), recipe->packages.size(), sources.c_str());
  std::fflush(stdout);
  const auto started = std::chrono::steady_clock::now();
  const std::string log = (work / "mmdebstrap.log").string();
  auto built = process::RunProgram(
      stacks::MmdebstrapArgs(*recipe, (work / "files").string(), sources, target),
      {.timeout = Seconds(3600), .output_file = log});
  if (!built.ok() || built->exit_code != 0) {
    const std::string said = ReadTail(log, 1500);
    cleanup();
    return Fail(built.ok() ? Status::Unavailable("mmdebstrap failed (exit " +
                                                 std::to_string(built->exit_code) + "): " + said)
                           : built.status());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("built in %.0f s\n", seconds);
  if (!s.output.empty()) {
    cleanup();
    std::printf("the stack's root is in %s (push it: starling stack push %s %s)\n",
                s.output.c_str(), s.name.c_str(), s.output.c_str());
    return 0;
  }
  const Json fields = {{"docroot", recipe->docroot}, {"command", recipe->command}};
  const int pushed = Upload(g, s.name, target, fields, s.write);
  cleanup();
  return pushed;
}

int ListStacks(const Globals& g) {
  auto stacks = Call(g.api, "GET", "/v1/stacks");
  if (!stacks.ok()) return Fail(stacks.status());
  if (g.json) return PrintJson(*stacks);
  std::printf("%-12s %-14s %-16s %10s  %s\n", "STACK", "VERSION", "DOCROOT", "SIZE", "SITES");
  for (const auto& stack : (*stacks)["stacks"]) {
    for (const auto& version : stack["versions"]) {
      std::string sites;
      for (const auto& site : version["sites"]) {
        sites += (sites.empty() ? "" : ",") + site.get<std::string>();
      }
      std::printf("%-12s %-14s %-16s %10s  %s\n", stack["name"].get<std::string>().c_str(),
                  version["version"].get<std::string>().substr(0, 12).c_str(),
                  version["docroot"].get<std::string>().c_str(),
                  Bytes(version["bytes"].get<double>()).c_str(),
                  sites.empty() ? "-" : sites.c_str());
    }
  }
  return 0;
}

}  // namespace

void AddStackCommands(CLI::App& app, Globals* g, int* exit_code) {
  auto s = std::make_shared<State>();
  auto* stack = app.add_subcommand("stack", "Stacks: base root filesystems sites are layered on");
  stack->require_subcommand(1);

  auto* push = stack->add_subcommand(
      "push", "Import a root filesystem as the stack's new version and spread it");
  push->add_option("name", s->name, "Stack name")->required();
  push->add_option("path", s->path, "The root filesystem (a directory)")->required();
  push->add_option("--command", s->command,
                   "How a copy starts: run by the stack's /bin/sh, serving $PORT (default for a "
                   "stack Starling has a recipe for: the recipe's)");
  push->add_option("--docroot", s->docroot, "Where a site's tree goes (default /var/www/html)");
  push->add_option("--env", s->env, "NAME=VALUE for the start command (repeat)");
  AddWriteFlags(push, &s->write);
  AddJsonFlag(push, g);
  OnRun(push, exit_code, [g, s]() -> int { return PushStack(*g, *s); });

  auto* build = stack->add_subcommand(
      "build", "Build a stack from Debian packages (mmdebstrap, as root) and push it: php");
  build->add_option("name", s->name, "The recipe: php")->required();
  build->add_option("--output", s->output, "Leave the root filesystem here instead of pushing");
  build->add_option("--sources", s->sources,
                    "Package sources: a sources file or a mirror URL (default: the machine's)");
  AddWriteFlags(build, &s->write);
  AddJsonFlag(build, g);
  OnRun(build, exit_code, [g, s]() -> int { return BuildStack(*g, *s); });

  auto* ls = stack->add_subcommand("ls", "Every stack's versions, and the sites on each");
  AddJsonFlag(ls, g);
  OnRun(ls, exit_code, [g]() -> int { return ListStacks(*g); });
}

}  // namespace starling::cli
