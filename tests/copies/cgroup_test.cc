// [unit] reading a copy's cgroup: the scheduler state of a thread, and counting runnable ones
// (the kernel's definition: running, waiting to run, or in uninterruptible sleep).
#include "src/copies/cgroup.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace starling::copies {
namespace {

TEST_CASE("the state letter follows the last parenthesis of a stat line", "[unit]") {
  CHECK(ParseStatState("1234 (bash) S 1 1234 1234 0 -1") == 'S');
  CHECK(ParseStatState("77 (busy) R 1 77") == 'R');
  CHECK(ParseStatState("9 (a) b) (c) D 1 9") == 'D');  // a command name with ") " in it
  CHECK(ParseStatState("9 (no close paren R 1") == 0);
  CHECK(ParseStatState("9 (x)") == 0);
  CHECK(ParseStatState("") == 0);
}

TEST_CASE("runnable threads are counted, sleeping and exited ones are not", "[unit]") {
  std::atomic<bool> stop{false};
  std::atomic<pid_t> busy_tid{0}, sleeping_tid{0};
  std::mutex mutex;
  std::condition_variable wake;
  std::thread busy([&] {
    busy_tid = static_cast<pid_t>(::syscall(SYS_gettid));
    while (!stop.load(std::memory_order_relaxed)) {
    }
  });
  std::thread sleeping([&] {
    sleeping_tid = static_cast<pid_t>(::syscall(SYS_gettid));
    std::unique_lock lock(mutex);
    wake.wait(lock, [&] { return stop.load(); });
  });
  // Wait, with a deadline, until both threads have said who they are and the sleeper sleeps.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline &&
         (busy_tid == 0 || sleeping_tid == 0 || CountRunnable({sleeping_tid.load()}) != 0)) {
    std::this_thread::yield();
  }
  const pid_t gone = 0x3fffffff;  // above pid_max: no such thread
  CHECK(CountRunnable({busy_tid.load()}) == 1);
  CHECK(CountRunnable({sleeping_tid.load()}) == 0);
  CHECK(CountRunnable({busy_tid.load(), sleeping_tid.load(), gone}) == 1);
  {
    std::lock_guard lock(mutex);
    stop = true;
  }
  wake.notify_all();
  busy.join();
  sleeping.join();
}

TEST_CASE("the cgroup layout names a mode, and paths that are missing are errors", "[unit]") {
  const CgroupLayout layout = CgroupLayout::Detect();
  INFO("mode " << CgroupModeName(layout.mode) << " cpu " << layout.cpu);
  if (layout.mode == CgroupMode::kNone) {
    CHECK(layout.Threads("/").status().code() == StatusCode::kUnavailable);
    return;
  }
  CHECK_FALSE(layout.cpu.empty());
  // cgroup v2 is mounted wherever the mode says so (the copies' firewall names cgroups there).
  CHECK(layout.unified.empty() == (layout.mode == CgroupMode::kV1));
  if (layout.mode == CgroupMode::kV2) CHECK(layout.unified == layout.cpu);
  CHECK(layout.Threads("/starling-no-such-cgroup").status().code() == StatusCode::kNotFound);
  CHECK(layout.CpuMicros("/starling-no-such-cgroup").status().code() == StatusCode::kNotFound);
}

}  // namespace
}  // namespace starling::copies
