// The stacks sites are layered on (issue 18, docs/STACKS.md): `stack push NAME DIR` (a root
// filesystem with its start command and docroot) and `stack ls`.
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "src/cli/archive_writer.h"
#include "src/cli/commands.h"

namespace starling::cli {
namespace {

struct State {
  std::string name, path, command, docroot = "/var/www/html";
  std::vector<std::string> env;
  WriteFlags write;
};

int PushStack(const Globals& g, const State& s) {
  Json body = {{"docroot", s.docroot}};
  if (s.command.empty()) return Fail(Status::InvalidArgument("a stack needs --command"));
  body["command"] = s.command;
  Json env = Json::object();
  for (const auto& pair : s.env) {
    const auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Fail(Status::InvalidArgument("--env takes NAME=VALUE"));
    }
    env[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  if (!env.empty()) body["env"] = env;
  std::error_code ec;
  if (!std::filesystem::is_directory(s.path, ec)) {
    return Fail(Status::InvalidArgument("'" + s.path + "' is not a directory"));
  }
  if (!g.json && ::isatty(STDOUT_FILENO)) std::printf("packing %s ...\n", s.path.c_str());
  auto archive = ArchiveDirectory(s.path);
  if (!archive.ok()) return Fail(archive.status());
  auto result = Upload(g.api, "/v1/stacks/" + s.name + "/archive" + s.write.Query(), *archive,
                       {"X-Starling-Push: " + body.dump()}, 3600, "the stack");
  std::filesystem::remove(*archive, ec);
  if (!result.ok()) return Fail(result.status());
  if (g.json) return PrintJson(*result);
  const Json& r = *result;
  std::printf("stack %s version %s: %llu files, %s (%llu new chunks, %s), %.2f s\n", s.name.c_str(),
              r["version"].get<std::string>().c_str(),
              static_cast<unsigned long long>(r["files"].get<uint64_t>()),
              Bytes(r["bytes"].get<double>()).c_str(),
              static_cast<unsigned long long>(r["new_chunks"].get<uint64_t>()),
              Bytes(r["new_chunk_bytes"].get<double>()).c_str(), r["seconds"].get<double>());
  return 0;
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
                   "How a copy starts: run by the stack's /bin/sh, serving $PORT")
      ->required();
  push->add_option("--docroot", s->docroot, "Where a site's tree goes (default /var/www/html)");
  push->add_option("--env", s->env, "NAME=VALUE for the start command (repeat)");
  AddWriteFlags(push, &s->write);
  AddJsonFlag(push, g);
  OnRun(push, exit_code, [g, s]() -> int { return PushStack(*g, *s); });

  auto* ls = stack->add_subcommand("ls", "Every stack's versions, and the sites on each");
  AddJsonFlag(ls, g);
  OnRun(ls, exit_code, [g]() -> int { return ListStacks(*g); });
}

}  // namespace starling::cli
