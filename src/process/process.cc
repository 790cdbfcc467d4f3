#include "src/process/process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/file.h"

extern char** environ;

namespace starling::process {
namespace {

uint64_t Number(std::string_view text) {
  uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// posix_spawn: no chroot or mount namespace needed, and cheap however large the agent is (glibc
// uses CLONE_VFORK, not a copy of the agent's page tables).
Result<pid_t> SpawnPlain(const SpawnOptions& options, std::vector<std::string> argv,
                         std::vector<std::string>* env) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (options.stdin_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, options.stdin_fd, 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  const std::string output = options.output_file.empty() ? "/dev/null" : options.output_file;
  posix_spawn_file_actions_addopen(&actions, 2, output.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0640);
  if (options.stdout_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, options.stdout_fd, 1);
  } else {
    posix_spawn_file_actions_adddup2(&actions, 2, 1);
  }
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  if (options.new_session) {
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID);
  } else {
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attributes, 0);  // its pgid is its pid
  }
  auto args = Pointers(argv);
  std::vector<char*> envp;
  if (env != nullptr) envp = Pointers(*env);
  pid_t pid = -1;
  const int error = ::posix_spawnp(&pid, args[0], &actions, &attributes, args.data(),
                                   env != nullptr ? envp.data() : environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    return Status::Unavailable("cannot start " + argv[0] + ": " + std::strerror(error));
  }
  return pid;
}

// fork: a private mount namespace and a chroot. Everything the child needs is built before the
// fork; after it, only system calls run (the agent has threads).
Result<pid_t> SpawnRooted(const SpawnOptions& options, std::vector<std::string> argv,
                          std::vector<std::string>* env) {
  const std::string output = options.output_file.empty() ? "/dev/null" : options.output_file;
  const int out = ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (out < 0) return Status::IoError("cannot open " + output + ": " + std::strerror(errno));
  int report[2];  // the child writes errno here if it cannot exec; closes on exec
  if (::pipe2(report, O_CLOEXEC) != 0) {
    ::close(out);
    return Status::IoError(std::string("pipe: ") + std::strerror(errno));
  }
  auto args = Pointers(argv);
  std::vector<char*> envp;
  if (env != nullptr) envp = Pointers(*env);
  char* const* environment = env != nullptr ? envp.data() : environ;
  const std::string cwd = options.cwd.empty() ? "/" : options.cwd;
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out);
    ::close(report[0]);
    ::close(report[1]);
    return Status::IoError(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::close(report[0]);
    int error = 0;
    bool mounted = ::unshare(CLONE_NEWNS) == 0 &&
                   ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
    for (const auto& [from, to] : options.binds) {
      mounted =
          mounted && ::mount(from.c_str(), to.c_str(), nullptr, MS_BIND | MS_REC, nullptr) == 0;
    }
    const bool grouped = options.new_session ? ::setsid() >= 0 : ::setpgid(0, 0) == 0;
    if (!mounted || !grouped || ::chroot(options.root.c_str()) != 0 || ::chdir(cwd.c_str()) != 0 ||
        ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) {
      error = errno;
    } else {
      const int null = ::open("/dev/null", O_RDONLY);
      if (null >= 0) ::dup2(null, 0);
      ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);  // the report pipe closes on exec too
      ::execve(args[0], args.data(), environment);
      error = errno;
    }
    (void)!::write(report[1], &error, sizeof error);
    ::_exit(127);
  }
  ::close(out);
  ::close(report[1]);
  int error = 0;
  ssize_t got = -1;
  do {
    got = ::read(report[0], &error, sizeof error);
  } while (got < 0 && errno == EINTR);
  ::close(report[0]);
  if (got == sizeof error) {
    ::waitpid(pid, nullptr, 0);
    return Status::Unavailable("cannot run " + argv[0] + " in " + options.root + ": " +
                               std::strerror(error) + (error == EPERM ? " (this needs root)" : ""));
  }
  return pid;
}

}  // namespace

Result<pid_t> Spawn(const SpawnOptions& options) {
  if (options.argv.empty() || options.argv[0].empty()) {
    return Status::InvalidArgument("no program to start");
  }
  if (!options.root.empty() && (options.stdin_fd >= 0 || options.stdout_fd >= 0)) {
    return Status::InvalidArgument("a rooted child takes no stdin or stdout descriptor");
  }
  std::vector<std::string> env = options.env.value_or(std::vector<std::string>{});
  std::vector<std::string>* env_pointer = options.env ? &env : nullptr;
  auto pid = options.root.empty() ? SpawnPlain(options, options.argv, env_pointer)
                                  : SpawnRooted(options, options.argv, env_pointer);
  if (!pid.ok() || options.pid_file.empty()) return pid;
  std::ostringstream text;
  text << *pid << " " << StartTime(*pid) << "\n";
  if (Status s = WriteFileAtomically(options.pid_file, text.str(), 0600); !s.ok()) {
    EndGroup(*pid, SIGKILL, Duration::zero(), options.new_session);
    return s;
  }
  return pid;
}

std::vector<std::string> StatFields(pid_t pid) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  std::vector<std::string> fields;
  if (!text.ok()) return fields;
  const size_t close = text->rfind(')');
  if (close == std::string::npos) return fields;
  std::stringstream rest(text->substr(close + 1));
  for (std::string field; rest >> field;) fields.push_back(field);
  return fields;
}

uint64_t StartTime(pid_t pid) {
  const auto fields = StatFields(pid);
  return fields.size() > 19 ? Number(fields[19]) : 0;
}

std::vector<pid_t> Members(pid_t id, bool session) {
  std::vector<pid_t> members;
  if (id <= 1) return members;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] < '0' || name[0] > '9') continue;
    const auto pid = static_cast<pid_t>(Number(name));
    const auto fields = StatFields(pid);
    if (fields.size() > 3 && fields[0] != "Z" &&
        Number(fields[session ? 3 : 2]) == static_cast<uint64_t>(id)) {
      members.push_back(pid);
    }
  }
  return members;
}

std::optional<pid_t> LiveGroup(const std::string& pid_file, bool session) {
  std::ifstream in(pid_file);
  long pid = 0;
  uint64_t start = 0;
  if (!(in >> pid >> start) || pid <= 1) return std::nullopt;
  const auto id = static_cast<pid_t>(pid);
  const uint64_t now = StartTime(id);
  if (now != 0 && now != start) return std::nullopt;      // the pid is a stranger's now
  if (Members(id, session).empty()) return std::nullopt;  // every member has exited
  return id;
}

void EndGroup(pid_t id, int signal, Duration grace, bool session) {
  if (id <= 1) return;
  auto send = [&](int which) {
    if (!session) {
      ::kill(-id, which);
      return;
    }
    for (pid_t member : Members(id, true)) ::kill(member, which);
  };
  send(signal);
  const auto end = std::chrono::steady_clock::now() + grace;
  for (;;) {
    // Our child: reaped here, or it would stay a zombie (which Members does not count).
    ::waitpid(id, nullptr, WNOHANG);
    if (Members(id, session).empty() || std::chrono::steady_clock::now() >= end) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling the group's exit
  }
  send(SIGKILL);
  while (::waitpid(id, nullptr, 0) < 0 && errno == EINTR) {
  }
}

bool EndLeftover(const std::string& pid_file, int signal, Duration grace, bool session) {
  const auto group = LiveGroup(pid_file, session);
  if (group) EndGroup(*group, signal, grace, session);
  std::error_code ec;
  std::filesystem::remove(pid_file, ec);
  return group.has_value();
}

bool Exited(pid_t pid) {
  if (pid <= 0) return false;
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) == pid;
}

Status Child::Start() {
  // SIGTERM: keepalived gives its address up, nginx stops (a leftover's requests are lost anyway).
  if (!options_.pid_file.empty()) EndLeftover(options_.pid_file, SIGTERM, Seconds(10));
  auto pid = Spawn(options_);
  if (!pid.ok()) return pid.status();
  pid_ = *pid;
  return Status::Ok();
}

bool Child::CheckExited() {
  const pid_t pid = pid_.load();
  if (pid <= 0 || !Exited(pid)) return false;
  ::kill(-pid, SIGKILL);  // whatever of its group it left behind
  pid_ = -1;
  return true;
}

bool Child::Signal(int signal) const {
  const pid_t pid = pid_.load();
  return pid > 0 && ::kill(pid, signal) == 0;
}

void Child::Stop(int signal, Duration grace) {
  const pid_t pid = pid_.exchange(-1);
  if (pid <= 0) return;
  EndGroup(pid, signal, grace, options_.new_session);
  if (!options_.pid_file.empty()) {
    std::error_code ec;
    std::filesystem::remove(options_.pid_file, ec);
  }
}

}  // namespace starling::process
