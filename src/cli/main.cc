// starling — the node (`starling agent`) and the cluster-query CLI, a client of an agent's API.
// Each command group is a file of its own (commands.h); errors map to exit codes (client.h).
#include <CLI/CLI.hpp>
#include <cstdlib>

#include "src/cli/commands.h"

int main(int argc, char** argv) {
  using namespace starling::cli;
  CLI::App app{"Starling: cloud hosting on ordinary servers, with no central controller"};
  app.require_subcommand(1);
  Globals globals;
  const char* env_api = std::getenv("STARLING_API");
  globals.api = env_api != nullptr ? env_api : "127.0.0.1:7947";
  app.add_option("--api", globals.api,
                 "The agent's API: https://host:port, http://host:port, host:port (HTTPS unless "
                 "loopback), or unix:DATA_DIR/api.sock on the node itself (env STARLING_API). "
                 "Credentials: STARLING_TOKEN, STARLING_TOKEN_FILE (0600) or STARLING_KEY_FILE; "
                 "the unix socket needs none. HTTPS trusts STARLING_CA_FILE, else the cluster's "
                 "CA derived from STARLING_KEY_FILE, else the node's DATA_DIR/api-ca.pem");
  int exit_code = 0;
  AddAgentCommands(app, &globals, &exit_code);
  AddClusterCommands(app, &globals, &exit_code);
  AddSiteCommands(app, &globals, &exit_code);
  AddImageCommands(app, &globals, &exit_code);
  AddStackCommands(app, &globals, &exit_code);
  AddCopyCommands(app, &globals, &exit_code);
  AddBalancerCommands(app, &globals, &exit_code);
  AddTokenCommands(app, &globals, &exit_code);
  AddDbCommands(app, &globals, &exit_code);
  AddFilesCommands(app, &globals, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);  // prints the usage or the help
    return code == 0 ? 0 : 2;          // a command line that does not parse is bad input
  }
  return exit_code;
}
