// The OCI driver: runc or crun through its command line (the runtime's own interface; both
// take the same commands and write the same state JSON).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "src/copies/driver.h"
#include "src/process/run.h"

namespace starling::copies {
namespace {

class OciDriver final : public Driver {
 public:
  OciDriver(std::string runtime, std::string state_root)
      : runtime_(std::move(runtime)), state_root_(std::move(state_root)) {}

  std::string_view name() const override { return runtime_; }

  Status Start(const CopySpec& spec, const std::string& bundle_dir) override {
    std::error_code ec;
    std::filesystem::create_directories(bundle_dir, ec);
    if (ec) return Status::IoError("cannot create " + bundle_dir + ": " + ec.message());
    CopySpec with_cgroup = spec;
    if (with_cgroup.cgroup_path.empty()) with_cgroup.cgroup_path = CgroupPath(spec.id);
    ::chmod(bundle_dir.c_str(), 0700);  // its config names the copy's environment
    {
      std::ofstream config(bundle_dir + "/config.json", std::ios::trunc);
      config << OciConfig(with_cgroup).dump(1);
      if (!config) return Status::IoError("cannot write " + bundle_dir + "/config.json");
    }
    // Detached: the container keeps the log file as its stdout and stderr. In a user namespace
    // it belongs to the copy's root: a server that opens /dev/stderr again (Apache does) opens
    // this file, and the host's root is nobody inside.
    const std::string log_file = bundle_dir + "/log";
    if (spec.id_base != 0) {
      const int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
      if (fd < 0 || ::fchown(fd, spec.id_base, spec.id_base) != 0) {
        const Status failed = Status::IoError("cannot give " + log_file + " to " + spec.id +
                                              "'s ids: " + std::strerror(errno));
        if (fd >= 0) ::close(fd);
        return failed;
      }
      ::close(fd);
    }
    auto run = process::RunProgram(Command({"run", "--detach", "--bundle", bundle_dir, "--pid-file",
                                            bundle_dir + "/pid", spec.id}),
                                   {.timeout = Seconds(30), .output_file = log_file});
    if (!run.ok()) return run.status();
    if (run->exit_code != 0) {
      // What the runtime said, in the error itself: the copy's directory goes with it.
      std::ifstream log(log_file);
      std::string said((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
      while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
      if (said.size() > 400) said = "..." + said.substr(said.size() - 400);
      return Status::Unavailable(runtime_ + " could not start " + spec.id + " (exit " +
                                 std::to_string(run->exit_code) + "): " + said);
    }
    return Status::Ok();
  }

  Result<bool> Running(const std::string& id) override {
    auto state = State(id);
    if (!state.ok()) {
      if (state.status().code() == StatusCode::kNotFound) return false;
      return state.status();
    }
    return *state == "running" || *state == "created";
  }

  Status Stop(const std::string& id, Duration grace) override {
    auto state = State(id);
    if (!state.ok() && state.status().code() == StatusCode::kNotFound) return Status::Ok();
    if (state.ok() && *state == "running") {
      process::RunProgram(Command({"kill", id, "TERM"}), {.timeout = Seconds(10)})
          .status()
          .IgnoreError();
      if (!WaitStopped(id, grace)) {
        process::RunProgram(Command({"kill", "--all", id, "KILL"}), {.timeout = Seconds(10)})
            .status()
            .IgnoreError();
        WaitStopped(id, Seconds(10));
      }
    }
    auto deleted =
        process::RunProgram(Command({"delete", "--force", id}), {.timeout = Seconds(30)});
    if (!deleted.ok()) return deleted.status();
    auto still = Running(id);
    if (deleted->exit_code != 0 && still.ok() && *still) {
      return Status::IoError(runtime_ + " delete " + id + " failed: " + deleted->output);
    }
    return Status::Ok();
  }

  Result<std::vector<std::string>> List() override {
    auto listed =
        process::RunProgram(Command({"list", "--format", "json"}), {.timeout = Seconds(30)});
    if (!listed.ok()) return listed.status();
    if (listed->exit_code != 0) return Status::Unavailable(runtime_ + " list: " + listed->output);
    auto parsed = nlohmann::json::parse(listed->output, nullptr, false);
    std::vector<std::string> ids;
    if (parsed.is_discarded()) return Status::Corruption(runtime_ + " list printed no JSON");
    if (!parsed.is_array()) return ids;  // runc prints "null" when it holds nothing
    for (const auto& container : parsed) {
      if (!container.is_object() || !container.contains("id") || !container["id"].is_string())
        continue;
      const std::string id = container["id"].get<std::string>();
      if (id.starts_with(kIdPrefix)) ids.push_back(id);
    }
    return ids;
  }

  std::string CgroupPath(const std::string& id) const override {
    return "/" + std::string(kCopiesCgroup) + "/" + id;
  }

  Result<CopyUsage> Usage(const std::string& id) override {
    CopyUsage usage;
    auto threads = cgroups_.Threads(CgroupPath(id));
    if (!threads.ok()) return threads.status();
    usage.threads = std::move(*threads);
    if (auto cpu = cgroups_.CpuMicros(CgroupPath(id)); cpu.ok()) usage.cpu_micros = *cpu;
    return usage;
  }

 private:
  std::vector<std::string> Command(std::vector<std::string> args) const {
    std::vector<std::string> argv = {runtime_, "--root", state_root_};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  // "running", "stopped", "created", "paused"; NotFound when the runtime holds no such id.
  Result<std::string> State(const std::string& id) {
    auto state = process::RunProgram(Command({"state", id}), {.timeout = Seconds(10)});
    if (!state.ok()) return state.status();
    if (state->exit_code != 0) return Status::NotFound(runtime_ + " holds no container " + id);
    auto parsed = nlohmann::json::parse(state->output, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("status") ||
        !parsed["status"].is_string()) {
      return Status::Corruption(runtime_ + " state " + id + " printed no status");
    }
    return parsed["status"].get<std::string>();
  }

  // Waits (bounded by `deadline`) for the container to stop.
  bool WaitStopped(const std::string& id, Duration deadline) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < end) {
      auto state = State(id);
      if (!state.ok() || *state == "stopped") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the runtime
    }
    return false;
  }

  std::string runtime_;
  std::string state_root_;
  CgroupLayout cgroups_ = CgroupLayout::Detect();
};

}  // namespace

std::unique_ptr<Driver> MakeOciDriver(std::string runtime, std::string state_root) {
  return std::make_unique<OciDriver>(std::move(runtime), std::move(state_root));
}

Result<std::unique_ptr<Driver>> PickDriver(std::string_view configured,
                                           const std::string& state_root) {
  const bool cgroups = CgroupLayout::Detect().mode != CgroupMode::kNone;
  std::vector<std::string> candidates;
  if (configured == "auto") {
    candidates = {"runc", "crun"};
  } else if (configured == "runc" || configured == "crun") {
    candidates = {std::string(configured)};
  } else if (configured == "process") {
    return MakeProcessDriver(state_root);
  } else {
    return Status::InvalidArgument("copies.driver must be auto, runc, crun or process, not '" +
                                   std::string(configured) + "'");
  }
  std::string why;
  for (const std::string& runtime : candidates) {
    if (!process::InPath(runtime)) {
      why += runtime + ": not installed; ";
      continue;
    }
    if (!cgroups) {
      why += runtime + ": no cgroup file system mounted; ";
      continue;
    }
    auto driver = MakeOciDriver(runtime, state_root);
    auto listed = driver->List();  // it runs, and it can use its state directory
    if (!listed.ok()) {
      why += runtime + ": " + listed.status().message() + "; ";
      continue;
    }
    return driver;
  }
  return Status::Unavailable("no container runtime works here (" + why +
                             "install runc, or set copies.driver = \"process\" for development)");
}

}  // namespace starling::copies
