#include "src/process/piped.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/file.h"

namespace starling::process {

Result<std::unique_ptr<PipedProgram>> PipedProgram::Start(SpawnOptions options) {
  if (!options.root.empty() || options.stdout_fd >= 0) {
    return Status::InvalidArgument("a piped program has its own stdout and the host's root");
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return Status::IoError(std::string("pipe: ") + std::strerror(errno));
  }
  options.stdout_fd = fds[1];
  auto pid = Spawn(options);
  ::close(fds[1]);  // the child holds the only write end now: EOF is its end
  if (!pid.ok()) {
    ::close(fds[0]);
    return pid.status();
  }
  return std::unique_ptr<PipedProgram>(
      new PipedProgram(*pid, fds[0], options.argv[0], options.output_file));
}

PipedProgram::~PipedProgram() {
  ::close(fd_);
  if (!reaped_) EndGroup(pid_, SIGTERM, Seconds(2));
}

Result<size_t> PipedProgram::Read(char* buffer, size_t size) {
  if (reaped_) return size_t{0};
  for (;;) {
    const ssize_t n = ::read(fd_, buffer, size);
    if (n > 0) return static_cast<size_t>(n);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IoError("reading " + program_ + ": " + std::strerror(errno));
    if (Status s = Finish(); !s.ok()) return s;
    return size_t{0};
  }
}

Status PipedProgram::Finish() {
  // It closed its output: it is ending. Seen without reaping it first, so that its group id stays
  // its own while whatever it left in the group is killed.
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) != 0 &&
         errno == EINTR) {
  }
  ::kill(-pid_, SIGKILL);
  int status = 0;
  pid_t done = -1;
  do {
    done = ::waitpid(pid_, &status, 0);
  } while (done < 0 && errno == EINTR);
  reaped_ = true;
  if (done == pid_ && WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  const std::string how = done == pid_ && WIFEXITED(status)
                              ? "exited with " + std::to_string(WEXITSTATUS(status))
                              : "was killed";
  std::string said = error_file_.empty() ? std::string() : ReadTail(error_file_, 2048);
  while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
  return Status::IoError(program_ + " " + how + (said.empty() ? "" : ": " + said));
}

}  // namespace starling::process
