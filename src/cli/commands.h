// src/cli/commands.h — the command groups of `starling`, one file each. Each adds its
// subcommands to the app; the one the user chose runs after parsing and leaves its exit code.
#pragma once

#include <CLI/CLI.hpp>

#include "src/cli/client.h"

namespace starling::cli {

void AddAgentCommands(CLI::App& app, Globals* globals, int* exit_code);     // agent, keygen
void AddClusterCommands(CLI::App& app, Globals* globals, int* exit_code);   // members, join, ...
void AddSiteCommands(CLI::App& app, Globals* globals, int* exit_code);      // site ...
void AddImageCommands(CLI::App& app, Globals* globals, int* exit_code);     // image ...
void AddStackCommands(CLI::App& app, Globals* globals, int* exit_code);     // stack ...
void AddCopyCommands(CLI::App& app, Globals* globals, int* exit_code);      // copies, events
void AddBalancerCommands(CLI::App& app, Globals* globals, int* exit_code);  // balancers, upstreams
void AddTokenCommands(CLI::App& app, Globals* globals, int* exit_code);     // token ...
void AddDbCommands(CLI::App& app, Globals* globals, int* exit_code);        // db ...

}  // namespace starling::cli
