// `starling agent` (run the node) and `starling keygen`.
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "src/agent/agent.h"
#include "src/agent/config.h"
#include "src/cli/commands.h"
#include "src/net/sealer.h"

namespace starling::cli {

void AddAgentCommands(CLI::App& app, Globals* globals, int* exit_code) {
  auto config_path = std::make_shared<std::string>();
  auto* agent_cmd = app.add_subcommand("agent", "Run the node");
  agent_cmd->add_option("--config,-c", *config_path, "TOML configuration file")->required();
  OnRun(agent_cmd, exit_code, [config_path]() -> int {
    auto config = agent::LoadConfig(*config_path);
    if (!config.ok()) return Fail(config.status());
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%f %^%l%$ [" + config->node_name + "] %v");
    spdlog::set_level(spdlog::level::from_str(config->log_level));
    spdlog::flush_on(spdlog::level::trace);  // a killed agent leaves its last words in the log
    // Chunk transfers allocate and free buffers of megabytes all the time: keep those in the
    // heap rather than in fresh mmap'ed memory, zero-filled and page-faulted on every use.
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    auto agent = agent::Agent::Create(std::move(*config));
    if (!agent.ok()) return Fail(agent.status());
    return (*agent)->Run();
  });

  auto* keygen_cmd = app.add_subcommand("keygen", "Print a new random cluster key (base64)");
  AddJsonFlag(keygen_cmd, globals);
  OnRun(keygen_cmd, exit_code, [globals]() -> int {
    const std::string key = net::Keyring::EncodeKey(net::Keyring::Generate());
    if (globals->json) return PrintJson({{"key", key}});
    std::printf("%s\n", key.c_str());
    return 0;
  });
}

}  // namespace starling::cli
