// The process driver, for development and hosts without an OCI runtime: the image's command runs
// as a plain process chrooted into the copy's overlay root, in a session of its own (so its
// children are found and stopped with it), with the host's /dev and /proc bound into the root in
// a mount namespace of its own (gone with the copy). No other namespace, no CPU or memory limit:
// it isolates nothing, and the agent says so when it picks it. Its state is one file per copy under
// the state root ("<id>.pid": pid and the kernel's start time, so a reused pid is never mistaken
// for the copy after the node restarts).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <thread>

#include "src/copies/driver.h"
#include "src/process/process.h"

namespace starling::copies {
namespace {

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
    process::SpawnOptions options;
    options.argv = spec.command;
    options.env = std::vector<std::string>{"PORT=" + std::to_string(spec.port),
                                           "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"};
    for (const auto& [key, value] : spec.env) {
      if (key != "PORT") options.env->push_back(key + "=" + value);
    }
    options.output_file = bundle_dir + "/log";
    options.cwd = spec.cwd;
    options.new_session = true;  // its children are found (and stopped) with it
    options.root = spec.root;
    // The host's /dev and /proc, where the root has directories for them.
    for (const char* dir : {"/dev", "/proc"}) {
      if (std::filesystem::is_directory(spec.root + dir)) {
        options.binds.emplace_back(dir, spec.root + dir);
      }
    }
    // A site's persisted paths, on their directories in the root (made where missing).
    for (const auto& [source, destination] : spec.binds) {
      std::filesystem::create_directories(spec.root + destination, ec);
      if (ec) return Status::IoError("cannot make " + destination + " in the copy's root");
      options.binds.emplace_back(source, spec.root + destination);
    }
    options.pid_file = PidFile(spec.id);
    auto pid = process::Spawn(options);
    if (!pid.ok()) return pid.status();
    // Reap it when it exits, so it does not linger as a zombie the load sampler would count.
    std::thread([pid = *pid] { ::waitpid(pid, nullptr, 0); }).detach();
    return Status::Ok();
  }

  Result<bool> Running(const std::string& id) override { return Leader(id) > 0; }

  Status Stop(const std::string& id, Duration grace) override {
    process::EndLeftover(PidFile(id), SIGTERM, grace, /*session=*/true);
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
    for (pid_t pid : process::Members(leader, /*session=*/true)) {
      const auto fields = process::StatFields(pid);
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

  // The copy's session leader if the session it leads still runs (process/process.h).
  pid_t Leader(const std::string& id) const {
    return process::LiveGroup(PidFile(id), /*session=*/true).value_or(0);
  }

  std::string state_root_;
};

}  // namespace

std::unique_ptr<Driver> MakeProcessDriver(std::string state_root) {
  return std::make_unique<ProcessDriver>(std::move(state_root));
}

}  // namespace starling::copies
