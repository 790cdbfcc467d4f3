// The process driver, for development and hosts without an OCI runtime: the image's command runs
// as a plain process chrooted into the copy's overlay root, in a session of its own (so its
// children are found and stopped with it), with the host's /dev and /proc bound into the root in
// a mount namespace of its own (gone with the copy). No other namespace, no CPU or memory limit:
// it isolates nothing, and the agent says so when it picks it. Its state is one file per copy under
// the state root ("<id>.pid": pid and the kernel's start time, so a reused pid is never mistaken
// for the copy after the node restarts).
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/file.h"
#include "src/copies/driver.h"

namespace starling::copies {
namespace {

// The fields of /proc/<pid>/stat after the command name: state is [0], session [3], utime
// [11], stime [12], starttime [19].
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

uint64_t Number(const std::string& text) {
  uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

class ProcessDriver final : public Driver {
 public:
  explicit ProcessDriver(std::string state_root) : state_root_(std::move(state_root)) {}

  std::string_view name() const override { return "process"; }

  Status Start(const CopySpec& spec, const std::string& bundle_dir) override {
    std::error_code ec;
    std::filesystem::create_directories(bundle_dir, ec);
    std::filesystem::create_directories(state_root_, ec);
    if (ec) return Status::IoError("cannot create " + state_root_ + ": " + ec.message());
    if (spec.command.empty()) return Status::InvalidArgument("a copy needs a command");
    // Everything the child needs is built before fork: after it only system calls run.
    std::vector<std::string> env_text = {"PORT=" + std::to_string(spec.port),
                                         "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"};
    for (const auto& [key, value] : spec.env) {
      if (key != "PORT") env_text.push_back(key + "=" + value);
    }
    std::vector<char*> argv, envp;
    for (const auto& arg : spec.command) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    for (auto& item : env_text) envp.push_back(item.data());
    envp.push_back(nullptr);
    // The host's /dev and /proc, where the root has directories for them.
    std::vector<std::pair<std::string, std::string>> binds;
    for (const char* dir : {"/dev", "/proc"}) {
      if (std::filesystem::is_directory(spec.root + dir)) binds.emplace_back(dir, spec.root + dir);
    }
    const std::string log_path = bundle_dir + "/log";
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (log < 0) return Status::IoError("cannot open " + log_path);
    int report[2];  // the child writes errno here if it cannot exec; closes on exec
    if (::pipe2(report, O_CLOEXEC) != 0) {
      ::close(log);
      return Status::IoError("pipe failed");
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(log);
      ::close(report[0]);
      ::close(report[1]);
      return Status::IoError("fork failed");
    }
    if (pid == 0) {
      ::close(report[0]);
      int error = 0;
      bool mounted = ::unshare(CLONE_NEWNS) == 0 &&
                     ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
      for (const auto& [from, to] : binds) {
        mounted =
            mounted && ::mount(from.c_str(), to.c_str(), nullptr, MS_BIND | MS_REC, nullptr) == 0;
      }
      if (!mounted) {
        error = errno;
      } else if (::setsid() < 0 || ::chroot(spec.root.c_str()) != 0 ||
                 ::chdir(spec.cwd.c_str()) != 0 || ::dup2(log, 1) < 0 || ::dup2(log, 2) < 0) {
        error = errno;
      } else {
        const int null = ::open("/dev/null", O_RDONLY);
        if (null >= 0) ::dup2(null, 0);
        // The copy keeps none of the agent's descriptors (sockets, the state log's lock).
        ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        ::execve(argv[0], argv.data(), envp.data());
        error = errno;
      }
      (void)!::write(report[1], &error, sizeof error);
      ::_exit(127);
    }
    ::close(log);
    ::close(report[1]);
    int error = 0;
    const ssize_t got = ::read(report[0], &error, sizeof error);
    ::close(report[0]);
    if (got == sizeof error) {
      ::waitpid(pid, nullptr, 0);
      return Status::Unavailable("cannot run " + spec.command[0] + " in " + spec.root + ": " +
                                 std::strerror(error) +
                                 (error == EPERM ? " (the process driver needs root)" : ""));
    }
    // Reap it when it exits, so it does not linger as a zombie the load sampler would count.
    std::thread([pid] { ::waitpid(pid, nullptr, 0); }).detach();
    const auto fields = StatFields(pid);
    std::ofstream state(PidFile(spec.id), std::ios::trunc);
    state << pid << " " << (fields.size() > 19 ? fields[19] : "0") << "\n";
    if (!state) return Status::IoError("cannot write " + PidFile(spec.id));
    return Status::Ok();
  }

  Result<bool> Running(const std::string& id) override { return Leader(id) > 0; }

  Status Stop(const std::string& id, Duration grace) override {
    const pid_t leader = Leader(id);
    if (leader > 0) {
      ::kill(-leader, SIGTERM);
      const auto end = std::chrono::steady_clock::now() + grace;
      while (std::chrono::steady_clock::now() < end && !Session(leader).empty()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling /proc
      }
      for (pid_t pid : Session(leader)) ::kill(pid, SIGKILL);
    }
    std::error_code ec;
    std::filesystem::remove(PidFile(id), ec);
    return Status::Ok();
  }

  Result<std::vector<std::string>> List() override {
    std::vector<std::string> ids;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(state_root_, ec)) {
      const std::string file = entry.path().filename().string();
      if (file.starts_with(kIdPrefix) && file.ends_with(".pid")) {
        ids.push_back(file.substr(0, file.size() - 4));
      }
    }
    return ids;
  }

  std::string CgroupPath(const std::string&) const override { return ""; }

  Result<CopyUsage> Usage(const std::string& id) override {
    const pid_t leader = Leader(id);
    if (leader <= 0) return Status::NotFound("copy " + id + " does not run");
    CopyUsage usage;
    const long ticks = ::sysconf(_SC_CLK_TCK);
    for (pid_t pid : Session(leader)) {
      const auto fields = StatFields(pid);
      if (fields.size() > 12 && ticks > 0) {
        usage.cpu_micros += (Number(fields[11]) + Number(fields[12])) * 1000000 / ticks;
      }
      std::error_code ec;
      const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
      for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
        usage.threads.push_back(static_cast<pid_t>(Number(task.path().filename().string())));
      }
    }
    return usage;
  }

 private:
  std::string PidFile(const std::string& id) const { return state_root_ + "/" + id + ".pid"; }

  // The copy's session leader if it still runs (same pid and start time as at its start).
  pid_t Leader(const std::string& id) const {
    std::ifstream state(PidFile(id));
    long pid = 0;
    std::string start;
    if (!(state >> pid >> start) || pid <= 0) return 0;
    const auto fields = StatFields(static_cast<pid_t>(pid));
    if (fields.size() <= 19 || fields[19] != start || fields[0] == "Z") return 0;
    return static_cast<pid_t>(pid);
  }

  // Live processes in the session `leader` leads.
  static std::vector<pid_t> Session(pid_t leader) {
    std::vector<pid_t> pids;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
      const std::string name = entry.path().filename().string();
      if (name.empty() || name[0] < '0' || name[0] > '9') continue;
      const auto pid = static_cast<pid_t>(Number(name));
      const auto fields = StatFields(pid);
      if (fields.size() > 3 && fields[0] != "Z" && Number(fields[3]) == uint64_t(leader)) {
        pids.push_back(pid);
      }
    }
    return pids;
  }

  std::string state_root_;
};

}  // namespace

std::unique_ptr<Driver> MakeProcessDriver(std::string state_root) {
  return std::make_unique<ProcessDriver>(std::move(state_root));
}

}  // namespace starling::copies
