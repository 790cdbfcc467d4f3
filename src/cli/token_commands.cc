// API tokens: `token create NAME --role R [--site S]`, `token ls`, `token revoke NAME`
// (docs/SECURITY.md). A token is printed once, when it is made.
#include <memory>

#include "src/cli/commands.h"

namespace starling::cli {
namespace {

struct State {
  std::string name, role = "readonly", site;
  WriteFlags write;
};

}  // namespace

void AddTokenCommands(CLI::App& app, Globals* g, int* exit_code) {
  auto s = std::make_shared<State>();
  auto* token = app.add_subcommand("token", "Manage API tokens (admin)");
  token->require_subcommand(1);

  auto* create = token->add_subcommand("create", "Make a token; it is printed this once");
  create->add_option("name", s->name, "The token's name")->required();
  create->add_option("--role", s->role, "admin, operator or readonly (default)")
      ->check(CLI::IsMember({"admin", "operator", "readonly"}));
  create->add_option("--site", s->site, "Act on this site only (a hosting customer's token)");
  AddWriteFlags(create, &s->write);
  AddJsonFlag(create, g);
  OnRun(create, exit_code, [g, s]() -> int {
    Json body = {{"name", s->name}, {"role", s->role}};
    if (!s->site.empty()) body["site"] = s->site;
    auto answer =
        Call(g->api, "POST", "/v1/tokens" + s->write.Query(), body, s->write.WaitSeconds());
    if (!answer.ok()) return Fail(answer.status());
    if (g->json) return PrintJson(*answer);
    std::fprintf(stderr, "token %s (%s%s) made; it is shown only now:\n", s->name.c_str(),
                 s->role.c_str(), s->site.empty() ? "" : (", site " + s->site).c_str());
    std::printf("%s\n", (*answer)["token"].get<std::string>().c_str());
    return 0;
  });

  auto* list = token->add_subcommand("ls", "List tokens (names and roles, never secrets)");
  AddJsonFlag(list, g);
  OnRun(list, exit_code, [g]() -> int {
    auto answer = Call(g->api, "GET", "/v1/tokens");
    if (!answer.ok()) return Fail(answer.status());
    if (g->json) return PrintJson(*answer);
    std::printf("%-24s %-9s %-20s %s\n", "NAME", "ROLE", "SITE", "CREATED BY");
    for (const auto& t : (*answer)["tokens"]) {
      const std::string site = t["site"].get<std::string>();
      std::printf("%-24s %-9s %-20s %s\n", t["name"].get<std::string>().c_str(),
                  t["role"].get<std::string>().c_str(), site.empty() ? "(all)" : site.c_str(),
                  t["created_by"].get<std::string>().c_str());
    }
    return 0;
  });

  auto* revoke = token->add_subcommand("revoke", "Revoke a token at once");
  revoke->add_option("name", s->name, "The token's name")->required();
  AddWriteFlags(revoke, &s->write);
  AddJsonFlag(revoke, g);
  OnRun(revoke, exit_code, [g, s]() -> int {
    auto answer = Call(g->api, "DELETE", "/v1/tokens/" + s->name + s->write.Query(), nullptr,
                       s->write.WaitSeconds());
    if (!answer.ok()) return Fail(answer.status());
    if (g->json) return PrintJson(*answer);
    std::printf("token %s revoked\n", s->name.c_str());
    return 0;
  });
}

}  // namespace starling::cli
