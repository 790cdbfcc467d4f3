// src/copies/driver.h — what runs a copy: an OCI runtime (runc or crun) or, for development and
// hosts without one, a plain process. Blocking calls: the agent makes them off its io thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/time.h"
#include "src/copies/cgroup.h"
#include "src/copies/oci_bundle.h"

namespace starling::copies {

// Container ids of copies start with this, so a node finds its own after a restart.
inline constexpr std::string_view kIdPrefix = "starling-";
// Every copy's cgroup is a child of this one, under the hierarchy's root (what the copies'
// firewall matches, src/copies/firewall.h).
inline constexpr std::string_view kCopiesCgroup = "starling";

// What a copy uses now: its threads (for the load average) and the CPU time it has had.
struct CopyUsage {
  std::vector<pid_t> threads;
  uint64_t cpu_micros = 0;
};

class Driver {
 public:
  virtual ~Driver() = default;
  virtual std::string_view name() const = 0;
  // Starts `spec` (its root already mounted) with `bundle_dir` for the driver's files (config,
  // pid, log). Returns once the process runs, not once it serves.
  virtual Status Start(const CopySpec& spec, const std::string& bundle_dir) = 0;
  // Whether the copy's process still runs.
  virtual Result<bool> Running(const std::string& id) = 0;
  // SIGTERM, up to `grace` to exit, then SIGKILL; releases the runtime's state for it.
  virtual Status Stop(const std::string& id, Duration grace) = 0;
  // Ids of copies the runtime holds (from an earlier run of this node, too).
  virtual Result<std::vector<std::string>> List() = 0;
  // The cgroup path whose threads are the copy's (for its load average).
  virtual std::string CgroupPath(const std::string& id) const = 0;
  // The copy's threads and CPU time; NotFound (or an empty thread list) once it is gone.
  virtual Result<CopyUsage> Usage(const std::string& id) = 0;
};

// runc or crun through its command line. `state_root` is the runtime's --root (its state dir).
std::unique_ptr<Driver> MakeOciDriver(std::string runtime, std::string state_root);

// The process driver: the command chrooted into the copy's root, in its own session; no
// isolation and no limits (development). `state_root` holds a pid file per copy.
std::unique_ptr<Driver> MakeProcessDriver(std::string state_root);
// Picks the driver: "runc", "crun" or "process" as configured, or "auto": the first OCI
// runtime that is installed and answers, else an error that says what is missing (the process
// driver is never chosen silently: it gives no isolation).
Result<std::unique_ptr<Driver>> PickDriver(std::string_view configured,
                                           const std::string& state_root);

}  // namespace starling::copies
