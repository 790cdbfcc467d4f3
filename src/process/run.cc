#include "src/process/run.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

extern char** environ;

namespace starling::process {

bool InPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

Result<ProgramResult> RunProgram(const std::vector<std::string>& argv, const RunOptions& options) {
  if (argv.empty()) return Status::InvalidArgument("no program to run");
  int pipe_fds[2] = {-1, -1};
  int out_fd = -1;
  if (options.output_file.empty()) {
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
      return Status::IoError(std::string("pipe: ") + std::strerror(errno));
    }
  } else {
    out_fd = ::open(options.output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (out_fd < 0) {
      return Status::IoError("cannot open " + options.output_file + ": " + std::strerror(errno));
    }
  }
  const int target = out_fd >= 0 ? out_fd : pipe_fds[1];
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!options.input_file.empty()) {
    // Opened by the child itself: a missing file is an error from posix_spawn, nothing leaks.
    posix_spawn_file_actions_addopen(&actions, 0, options.input_file.c_str(), O_RDONLY, 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&actions, target, 1);
  posix_spawn_file_actions_adddup2(&actions, target, 2);
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());
  // Nothing else of the agent's (its gossip sockets, the state log's lock) outlives it in a child.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int error = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (out_fd >= 0) ::close(out_fd);
  if (pipe_fds[1] >= 0) ::close(pipe_fds[1]);
  if (error != 0) {
    if (pipe_fds[0] >= 0) ::close(pipe_fds[0]);
    return Status::Unavailable("cannot run " + argv[0] + ": " + std::strerror(error));
  }
  ProgramResult result;
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  bool killed = false;
  if (pipe_fds[0] >= 0) {
    char buffer[4096];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        ::kill(pid, SIGKILL);
        killed = true;
        break;
      }
      pollfd poll_fd{pipe_fds[0], POLLIN, 0};
      if (::poll(&poll_fd, 1, static_cast<int>(left.count())) <= 0) continue;
      const ssize_t n = ::read(pipe_fds[0], buffer, sizeof buffer);
      if (n <= 0) break;  // EOF: the program (and whatever kept the pipe) is done with it
      if (result.output.size() < (64u << 10)) result.output.append(buffer, static_cast<size_t>(n));
    }
    ::close(pipe_fds[0]);
  }
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, killed ? 0 : WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) return Status::IoError("waitpid failed");
    if (std::chrono::steady_clock::now() >= deadline && !killed) {
      ::kill(pid, SIGKILL);
      killed = true;
      continue;
    }
    if (done == 0) ::usleep(2000);  // a bounded wait for a child we started, by its pid
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace starling::process
