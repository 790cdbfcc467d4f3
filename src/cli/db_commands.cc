// The database cluster: `db status` (every db node's member and every worker's endpoint),
// `db show SITE` (a site's database settings, as its copies get them), `db dump SITE` and
// `db import SITE` (streamed both ways, progress on a terminal).
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "src/cli/commands.h"

namespace starling::cli {
namespace {

struct State {
  std::string site;
  bool show_password = false;
  std::string file;  // dump: where to (else stdout); import: from where (else stdin)
  WriteFlags write;
};

constexpr int kTransferTimeoutS = 3600;

// Writes the dump to `file` (whole, or not at all).
int DumpToFile(const Globals& g, const std::string& path, const std::string& file) {
  auto answer = DownloadToFile(g.api, path, file, 120);
  if (!answer.ok()) return Fail(answer.status());
  std::fprintf(stderr, "dump of %s written to %s\n",
               Bytes((*answer)["bytes"].get<double>()).c_str(), file.c_str());
  return 0;
}

// A dump read from stdin as a file the upload can send (its size is needed first): stdin itself
// when it is one, else a private copy (removed by the caller when `*copied`).
Result<std::string> StdinAsFile(bool* copied) {
  *copied = false;
  struct stat info {};
  if (::fstat(STDIN_FILENO, &info) != 0) return Status::IoError("cannot read stdin");
  if (::isatty(STDIN_FILENO)) {
    return Status::InvalidArgument("give the dump on stdin (db import SITE < file.sql) or as FILE");
  }
  if (S_ISREG(info.st_mode)) return std::string("/proc/self/fd/0");
  std::string path = (std::filesystem::temp_directory_path() / "starling-import-XXXXXX").string();
  const int fd = ::mkstemp(path.data());
  if (fd < 0) return Status::IoError("cannot make a temporary file for the dump");
  *copied = true;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0 || ::write(fd, buffer, static_cast<size_t>(n)) != n) {
      ::close(fd);
      ::unlink(path.c_str());
      *copied = false;
      return Status::IoError("cannot copy the dump from stdin to " + path);
    }
  }
  ::close(fd);
  return path;
}

// Every live member's /v1/db (db nodes and workers; others have none).
Result<Json> GatherDb(const Globals& g) {
  auto members = Call(g.api, "GET", "/v1/members");
  if (!members.ok()) return members.status();
  auto self = Call(g.api, "GET", "/v1/self");
  const std::string self_name = self.ok() ? self->value("name", "") : "";
  Json all = Json::array();
  for (const auto& member : (*members)["members"]) {
    if (member["status"] != "alive" || !member.contains("api")) continue;
    const std::string name = member["name"].get<std::string>();
    auto state =
        Call(name == self_name ? g.api : member["api"].get<std::string>(), "GET", "/v1/db");
    if (!state.ok()) {
      if (state.status().code() != StatusCode::kNotFound) {
        std::fprintf(stderr, "starling: %s: %s\n", name.c_str(), state.status().message().c_str());
      }
      continue;
    }
    all.push_back(std::move(*state));
  }
  return all;
}

int PrintStatus(const Json& all) {
  std::printf("%-16s %-12s %5s %14s %6s %9s  %-16s %s\n", "NODE", "DATABASE", "SIZE",
              "LAST COMMITTED", "READY", "FLOW CTRL", "ENDPOINT WRITER", "WHY");
  size_t members = 0;
  for (const auto& node : all) {
    const Json member = node.value("member", Json::object());
    const Json endpoint = node.value("endpoint", Json::object());
    if (!member.empty()) ++members;
    const std::string writer = endpoint.empty() ? "-"
                                                : (endpoint.value("writer", "").empty()
                                                       ? "none"
                                                       : endpoint["writer"].get<std::string>());
    const std::string why = member.value("why", endpoint.value("why", ""));
    auto field = [&](const char* key, auto show) -> std::string {
      return member.contains(key) ? show(member[key]) : std::string("-");
    };
    const std::string size =
        field("cluster_size", [](const Json& v) { return std::to_string(v.get<unsigned>()); });
    const std::string committed =
        field("last_committed", [](const Json& v) { return std::to_string(v.get<int64_t>()); });
    const std::string ready =
        field("ready", [](const Json& v) { return std::string(v.get<bool>() ? "yes" : "no"); });
    const std::string paused = field("flow_control_paused", [](const Json& v) {
      return fmt::format("{:.1f}%", 100 * v.get<double>());
    });
    std::printf("%-16s %-12s %5s %14s %6s %9s  %-16s %s\n", node["node"].get<std::string>().c_str(),
                member.empty() ? "-" : member.value("state", "?").c_str(), size.c_str(),
                committed.c_str(), ready.c_str(), paused.c_str(), writer.c_str(), why.c_str());
  }
  if (members == 0) std::printf("(no db node: give some nodes roles = [\"worker\", \"db\"])\n");
  return 0;
}

}  // namespace

void AddDbCommands(CLI::App& app, Globals* g, int* exit_code) {
  auto s = std::make_shared<State>();
  auto* db = app.add_subcommand("db", "The sites' databases (MariaDB Galera on the db nodes)");
  db->require_subcommand(1);

  auto* status = db->add_subcommand(
      "status",
      "Every db node's member (state, cluster size, last committed, flow control) and "
      "the writer every worker's endpoint leads to");
  AddJsonFlag(status, g);
  OnRun(status, exit_code, [g]() -> int {
    auto all = GatherDb(*g);
    if (!all.ok()) return Fail(all.status());
    return g->json ? PrintJson(*all) : PrintStatus(*all);
  });

  auto* show = db->add_subcommand("show", "A site's database settings, as its copies get them");
  show->add_option("site", s->site, "Site name")->required();
  show->add_flag("--show-password", s->show_password, "Print the password too");
  AddJsonFlag(show, g);
  OnRun(show, exit_code, [g, s]() -> int {
    auto answer =
        Call(g->api, "GET", "/v1/db/sites/" + s->site + (s->show_password ? "/password" : ""));
    if (!answer.ok()) return Fail(answer.status());
    if (g->json) return PrintJson(*answer);
    std::printf("host      %s (the endpoint on the node a copy runs on)\n",
                (*answer)["host"].get<std::string>().c_str());
    std::printf("port      %d\n", (*answer)["port"].get<int>());
    std::printf("database  %s\n", (*answer)["name"].get<std::string>().c_str());
    std::printf("user      %s\n", (*answer)["user"].get<std::string>().c_str());
    if (answer->contains("password")) {
      std::printf("password  %s\n", (*answer)["password"].get<std::string>().c_str());
      std::printf("url       %s\n", (*answer)["url"].get<std::string>().c_str());
    } else {
      std::printf("password  (--show-password; copies get it as DB_PASSWORD)\n");
    }
    return 0;
  });

  auto* forget = db->add_subcommand(
      "forget", "Remove a db node gone for good from the registry the cold-start rule waits for");
  forget->add_option("node", s->site, "Node name")->required();
  AddWriteFlags(forget, &s->write);
  OnRun(forget, exit_code, [g, s]() -> int {
    auto answer = Call(g->api, "DELETE", "/v1/db/nodes/" + s->site + s->write.Query(), nullptr,
                       s->write.WaitSeconds());
    if (!answer.ok()) return Fail(answer.status());
    std::printf("db node %s forgotten: a cold start no longer waits for it\n", s->site.c_str());
    return 0;
  });

  auto* dump = db->add_subcommand(
      "dump", "A site's database as SQL (mariadb-dump at the writer), on stdout or to --output");
  dump->add_option("site", s->site, "Site name")->required();
  dump->add_option("-o,--output", s->file,
                   "Write it to this file (whole, or not at all) instead of stdout");
  OnRun(dump, exit_code, [g, s]() -> int {
    const std::string path = "/v1/db/sites/" + s->site + "/dump";
    if (!s->file.empty()) return DumpToFile(*g, path, s->file);
    auto answer = Download(g->api, path, stdout, 120);
    if (std::fflush(stdout) != 0) return Fail(Status::IoError("cannot write the dump to stdout"));
    if (!answer.ok()) return Fail(answer.status());
    return 0;
  });

  auto* import = db->add_subcommand(
      "import",
      "Apply a SQL dump to a site's database, all or nothing: its tables replace the site's "
      "tables of the same names");
  import->add_option("site", s->site, "Site name")->required();
  import->add_option("file", s->file, "The dump (default: stdin)");
  AddJsonFlag(import, g);
  OnRun(import, exit_code, [g, s]() -> int {
    bool copied = false;
    std::string file = s->file;
    if (file.empty()) {
      auto from_stdin = StdinAsFile(&copied);
      if (!from_stdin.ok()) return Fail(from_stdin.status());
      file = *from_stdin;
    }
    auto answer = Upload(g->api, "/v1/db/sites/" + s->site + "/import", file, {}, kTransferTimeoutS,
                         "the dump");
    if (copied) ::unlink(file.c_str());
    if (!answer.ok()) return Fail(answer.status());
    if (g->json) return PrintJson(*answer);
    std::printf("imported %s into %s's database: %zu table(s), %d of them replacing the site's\n",
                Bytes((*answer)["bytes"].get<double>()).c_str(), s->site.c_str(),
                (*answer)["tables"].size(), (*answer)["replaced"].get<int>());
    return 0;
  });
}

}  // namespace starling::cli
