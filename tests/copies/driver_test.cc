// [integration] the drivers with real processes: a copy starts from a root directory, answers on
// its port, is counted by its runnable threads, and stops (SIGTERM, then SIGKILL after the
// grace) leaving nothing behind; under runc it runs in its own cgroup held to one core. Needs
// root, runc and busybox-static (scripts/bootstrap installs them).
#include "src/copies/driver.h"

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "src/rules/load_average.h"
#include "tests/integration/cluster.h"

namespace starling::copies {
namespace {

using testing::WaitFor;

uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

void RunCopy(const std::string& driver_name) {
  REQUIRE(::geteuid() == 0);
  REQUIRE(std::filesystem::exists("/bin/busybox"));
  const auto dir =
      std::filesystem::temp_directory_path() / ("starling-oci-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const auto root = dir / "root";
  for (const char* sub : {"bin", "www", "proc", "dev", "sys", "tmp"}) {
    std::filesystem::create_directories(root / sub);
  }
  std::filesystem::copy_file("/bin/busybox", root / "bin/busybox");
  std::ofstream(root / "www/index.html") << "hello from a copy\n";

  auto driver = PickDriver(driver_name, (dir / "state").string());
  REQUIRE(driver.ok());
  const bool contained = driver_name != "process";
  CopySpec spec;
  spec.id = std::string(kIdPrefix) + "test-" + std::to_string(::getpid());
  spec.root = root.string();
  spec.port = FreePort();
  // Two busy loops and a web server: two runnable threads, held to one core.
  spec.command = {"/bin/busybox", "sh", "-c",
                  "/bin/busybox sh -c 'while :; do :; done' & "
                  "/bin/busybox sh -c 'while :; do :; done' & "
                  "exec /bin/busybox httpd -f -p 127.0.0.1:$PORT -h /www"};
  spec.memory_bytes = 64u << 20;
  spec.pids = 32;
  const Status started = (*driver)->Start(spec, (dir / "bundle").string());
  INFO(started.ToString());
  REQUIRE(started.ok());
  CHECK(*(*driver)->Running(spec.id));
  auto listed = (*driver)->List();
  REQUIRE(listed.ok());
  CHECK(std::count(listed->begin(), listed->end(), spec.id) == 1);

  httplib::Client client("127.0.0.1", spec.port);
  std::string body;
  REQUIRE(WaitFor(std::chrono::seconds(10), [&] {
    auto response = client.Get("/index.html");
    if (response && response->status == 200) body = response->body;
    return !body.empty();
  }));
  CHECK(body == "hello from a copy\n");

  rules::LoadAverage load;
  uint32_t runnable = 0;
  REQUIRE(WaitFor(std::chrono::seconds(10), [&] {
    auto usage = (*driver)->Usage(spec.id);
    if (!usage.ok()) {
      UNSCOPED_INFO(usage.status().ToString());
      return false;
    }
    runnable = CountRunnable(usage->threads);
    return runnable == 2;
  }));
  INFO("runnable threads: " << runnable);
  for (int i = 0; i < 10; ++i) load.Sample(runnable);
  CHECK(load.value() > 0.25);
  // CPU time is counted; in a container it grows, with two busy loops held to one core, at
  // most about as fast as the wall clock.
  auto cpu_start = (*driver)->Usage(spec.id);
  REQUIRE(cpu_start.ok());
  const auto wall_start = std::chrono::steady_clock::now();
  uint64_t used = 0;
  REQUIRE(WaitFor(std::chrono::seconds(20), [&] {
    auto now_used = (*driver)->Usage(spec.id);
    used = now_used.ok() ? now_used->cpu_micros - cpu_start->cpu_micros : 0;
    return used >= 1'000'000;
  }));
  const double wall_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - wall_start)
          .count();
  INFO("cpu " << used << " us in " << wall_us << " us of wall time");
  if (contained) CHECK(static_cast<double>(used) <= 1.25 * wall_us + 100'000);

  // The shell as the container's init ignores SIGTERM: the grace runs out, then SIGKILL (the
  // busy loops, too: the whole session or cgroup goes).
  REQUIRE((*driver)->Stop(spec.id, std::chrono::milliseconds(500)).ok());
  CHECK_FALSE(*(*driver)->Running(spec.id));
  listed = (*driver)->List();
  REQUIRE(listed.ok());
  CHECK(std::count(listed->begin(), listed->end(), spec.id) == 0);
  auto after = (*driver)->Usage(spec.id);
  CHECK((!after.ok() || after->threads.empty()));  // its cgroup (or session) is gone
  CHECK_FALSE(client.Get("/index.html"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("runc runs a copy in one core's cgroup, and stops it cleanly", "[integration]") {
  RunCopy("auto");
}

TEST_CASE("the process driver runs a copy chrooted in its own session, and stops it",
          "[integration]") {
  RunCopy("process");
}

TEST_CASE("the process driver says why a copy cannot start", "[integration]") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("starling-process-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "root");
  auto driver = PickDriver("process", (dir / "state").string());
  REQUIRE(driver.ok());
  CopySpec spec;
  spec.id = std::string(kIdPrefix) + "missing";
  spec.root = (dir / "root").string();
  spec.command = {"/bin/no-such-program"};
  const Status started = (*driver)->Start(spec, (dir / "bundle").string());
  CHECK(started.code() == StatusCode::kUnavailable);
  CHECK_THAT(started.message(), Catch::Contains("No such file"));
  CHECK(*(*driver)->List() == std::vector<std::string>{});
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace starling::copies
