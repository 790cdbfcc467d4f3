// src/process/process.h — the one way the agent starts, watches and ends other programs: nginx,
// keepalived, the OCI runtime's commands, copies under the process driver, and the database and
// storage daemons to come.
//
// Every child runs in a process group (or session) of its own, so it and whatever it forks are
// ended together, even after the agent itself was killed with SIGKILL; it gets stdin from
// /dev/null and none of the agent's descriptors beyond 0–2 (a child outliving a killed agent must
// not hold its gossip sockets or its state log's lock). A child the agent must find again after
// a restart gets a pid file holding its pid and the kernel's start time for it, so a pid reused by
// a stranger is never taken for it.
//
// Every call here is blocking (fork, /proc, waits): the agent makes them off the io thread, except
// Exited and Signal, which are single non-blocking system calls.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "base/time.h"

namespace starling::process {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH unless it holds a '/'
  // The child's environment ("NAME=value"); nullopt: the agent's own.
  std::optional<std::vector<std::string>> env;
  std::string output_file;  // stdout and stderr appended here (created 0640); empty: /dev/null
  // The child's stdin and stdout when >= 0 (stderr still goes to output_file): a program the
  // agent feeds or reads as it runs (a database dump). The caller keeps and closes its copies.
  // Without `root` only.
  int stdin_fd = -1;
  int stdout_fd = -1;
  std::string cwd;           // inside `root` when one is given; empty: unchanged
  bool new_session = false;  // setsid(): a session of its own (else a process group of its own)
  // A private mount namespace with `binds` (host path → path) bind-mounted, then chroot into
  // `root` (the process driver's copies). Empty: the host's root. Needs root privileges.
  std::string root;
  std::vector<std::pair<std::string, std::string>> binds;
  // Written with the child's pid and start time once it runs (see LiveGroup). Empty: none.
  std::string pid_file;
};

// Starts the program and returns its pid once exec succeeded; a failure to exec (no such
// program, EPERM for a chroot) is an error, not a pid. The caller reaps it (Exited, EndGroup).
Result<pid_t> Spawn(const SpawnOptions& options);

// The fields of /proc/<pid>/stat after the command name (which may hold spaces): state is [0],
// process group [2], session [3], utime [11], stime [12], starttime [19]. Empty when it is gone.
std::vector<std::string> StatFields(pid_t pid);

// The kernel's start time of `pid` (clock ticks since boot), or 0 when no such process runs
// (a zombie still has one).
uint64_t StartTime(pid_t pid);

// Live (not zombie) processes whose process group — or, with `session`, session — is `id`.
std::vector<pid_t> Members(pid_t id, bool session = false);

// The group (or session) a pid file names, if it is still the one started then: its leader runs
// with the start time the file holds, or the leader is gone and members remain (the kernel gives
// no new process a pid still in use as a group id). nullopt otherwise, and for no file.
std::optional<pid_t> LiveGroup(const std::string& pid_file, bool session = false);

// Ends group (or session) `id`: `signal` to it, up to `grace` for it to empty, then SIGKILL to
// what is left. Reaps `id` if it is our child. Blocking for up to `grace`.
void EndGroup(pid_t id, int signal, Duration grace, bool session = false);

// Ends what an earlier run left under `pid_file` (see LiveGroup), then removes the file. True if
// something was found and ended.
bool EndLeftover(const std::string& pid_file, int signal, Duration grace, bool session = false);

// Whether our child `pid` has exited; reaps it if so. Non-blocking.
bool Exited(pid_t pid);

// A long-running child the agent keeps up (nginx, keepalived): its pid readable from any
// thread, started, checked and ended through the functions above.
class Child {
 public:
  explicit Child(SpawnOptions options) : options_(std::move(options)) {}
  ~Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Ends a leftover of an earlier run (its pid file), then starts the program. Blocking.
  Status Start();
  // Whether it was running and has exited since (reaped; pid() is then -1). Non-blocking.
  bool CheckExited();
  // Sends `signal` to the child alone (e.g. SIGHUP to reload). False if it does not run.
  bool Signal(int signal) const;
  // Ends it and its group: `signal`, then SIGKILL after `grace`. Blocking.
  void Stop(int signal, Duration grace);
  // -1 when it does not run. Any thread.
  pid_t pid() const { return pid_.load(); }
  const SpawnOptions& options() const { return options_; }

 private:
  SpawnOptions options_;
  std::atomic<pid_t> pid_{-1};
};

}  // namespace starling::process
