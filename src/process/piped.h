// src/process/piped.h — a program whose standard output the agent reads as it runs: a database
// dump streamed to a client without ever being held whole, in memory or on disk.
//
// Blocking: read it off the io thread (an HTTP connection's own thread).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "base/status.h"
#include "src/process/process.h"

namespace starling::process {

class PipedProgram {
 public:
  // Starts `options.argv` in a process group of its own with its stdout on a pipe; its stderr
  // goes to `options.output_file` (kept for the error). REQUIRES: no `root`, no stdout_fd.
  static Result<std::unique_ptr<PipedProgram>> Start(SpawnOptions options);
  // Ends the program's group if it still runs (a reader that went away), and reaps it.
  ~PipedProgram();
  PipedProgram(const PipedProgram&) = delete;
  PipedProgram& operator=(const PipedProgram&) = delete;

  // Up to `size` bytes of its output, waiting for them; 0 once the program closed its output and
  // exited with status 0. An error when it exited otherwise, with the end of what it said on
  // stderr.
  Result<size_t> Read(char* buffer, size_t size);
  // Its pid, which is its process group's id.
  pid_t pid() const { return pid_; }

 private:
  PipedProgram(pid_t pid, int fd, std::string program, std::string error_file)
      : pid_(pid), fd_(fd), program_(std::move(program)), error_file_(std::move(error_file)) {}
  Status Finish();

  pid_t pid_;
  int fd_;
  std::string program_;
  std::string error_file_;
  bool reaped_ = false;
};

}  // namespace starling::process
