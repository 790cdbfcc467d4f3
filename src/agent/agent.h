// src/agent/agent.h — `starling agent`: the Asio runtime that drives the pure membership core with
// real sockets and clocks (DESIGN.md §2), and serves the local HTTP API.
//
// Threading: everything that touches the core runs on one io_context thread. The HTTP server
// runs on its own threads and hands each request to the io_context, waiting for the answer.
#pragma once

#include <memory>

#include "base/status.h"
#include "src/agent/config.h"

namespace starling::agent {

class Agent {
 public:
  virtual ~Agent() = default;
  // Binds sockets, restores identity and keyring from the data dir. Errors say what to fix.
  static Result<std::unique_ptr<Agent>> Create(AgentConfig config);
  // Runs until SIGINT/SIGTERM or an API leave, then leaves gracefully. Returns the exit code.
  virtual int Run() = 0;
};

}  // namespace starling::agent
