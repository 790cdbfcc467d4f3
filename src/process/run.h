// src/process/run.h — runs a program to completion (the OCI runtime's CLI, nginx -t) and collects
// what it said.
// Blocking: call it off the io thread. No shell is involved: argv goes to the program as is.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "base/time.h"

namespace starling::process {

struct ProgramResult {
  int exit_code = -1;  // -1 if it was killed (timeout or signal)
  std::string output;  // stdout and stderr together, at most 64 KiB kept
};

struct RunOptions {
  Duration timeout = Seconds(30);  // then SIGKILL
  // Where the program's stdout and stderr go instead of being collected (opened for append),
  // e.g. a detached container's log; empty: collected into the result.
  std::string output_file;
  std::string cwd;
  std::string input_file;  // the program's stdin; empty: /dev/null
};

// Runs argv[0] (looked up in PATH) with `argv`. An error only when it could not be started.
Result<ProgramResult> RunProgram(const std::vector<std::string>& argv,
                                 const RunOptions& options = {});

// Whether `name` is an executable file in PATH.
bool InPath(const std::string& name);

}  // namespace starling::process
