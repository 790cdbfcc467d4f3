// The process supervisor: children in groups of their own, holding none of our descriptors,
// found again by pid file (never a stranger that reused the pid), ended with their group.
#include "src/process/process.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "base/file.h"
#include "src/process/piped.h"
#include "src/process/run.h"

namespace starling::process {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    char pattern[] = "/tmp/starling-process-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  fs::path path;
};

// Waits (bounded) until `condition` holds; polling, as the kernel gives no event for these.
bool Eventually(const std::function<bool()>& condition) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

std::string Read(const fs::path& path) {
  auto text = ReadFile(path);
  return text.ok() ? *text : "";
}

TEST_CASE("a child runs in a process group of its own, with none of our descriptors", "[unit]") {
  TempDir dir;
  // A descriptor of ours without close-on-exec, numbered apart: the child must not hold it.
  const int null = ::open("/dev/null", O_RDONLY);
  const int ours = ::fcntl(null, F_DUPFD, 100);
  ::close(null);
  REQUIRE(ours >= 100);
  const fs::path out = dir.path / "out";
  auto pid = Spawn({.argv = {"sh", "-c",
                             "echo fds $(ls /proc/$$/fd); echo pgrp $(cut -d' ' -f5 /proc/$$/stat);"
                             " echo done; exec sleep 30"},
                    .output_file = out.string()});
  ::close(ours);
  REQUIRE(pid.ok());
  REQUIRE(Eventually([&] { return Read(out).find("done") != std::string::npos; }));
  const std::string said = Read(out);
  INFO(said);
  // The "fds ..." line, each number set apart: "100" must not be among them (and "1006", a
  // group id on the next line, is not a match).
  const std::string fds = said.substr(0, said.find('\n')) + " ";
  CHECK(fds.find(" " + std::to_string(ours) + " ") == std::string::npos);
  CHECK(said.find("pgrp " + std::to_string(*pid) + "\n") != std::string::npos);
  CHECK(Members(*pid) == std::vector<pid_t>{*pid});
  EndGroup(*pid, SIGTERM, Seconds(5));
  CHECK(Members(*pid).empty());
  CHECK_FALSE(Exited(*pid));  // reaped by EndGroup already
}

TEST_CASE("a program that cannot start is an error, not a pid", "[unit]") {
  auto missing = Spawn({.argv = {"/nonexistent/program"}});
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.status().message(), Catch::Contains("/nonexistent/program"));
  CHECK_FALSE(Spawn({}).ok());
}

TEST_CASE("a pid file finds the group again, but never a stranger that reused the pid", "[unit]") {
  TempDir dir;
  const std::string pid_file = (dir.path / "child.pid").string();
  auto pid = Spawn({.argv = {"sleep", "30"}, .pid_file = pid_file});
  REQUIRE(pid.ok());
  CHECK(LiveGroup(pid_file) == *pid);
  // The same pid with another start time: a stranger's process now.
  const std::string stranger = (dir.path / "stranger.pid").string();
  std::ofstream(stranger) << *pid << " " << StartTime(*pid) + 1 << "\n";
  CHECK_FALSE(LiveGroup(stranger).has_value());
  CHECK_FALSE(EndLeftover(stranger, SIGKILL, Seconds(1)));
  CHECK(Members(*pid) == std::vector<pid_t>{*pid});  // untouched
  // Ours: ended, and the file is gone.
  CHECK(EndLeftover(pid_file, SIGTERM, Seconds(5)));
  CHECK(Members(*pid).empty());
  CHECK_FALSE(fs::exists(pid_file));
  CHECK_FALSE(LiveGroup(pid_file).has_value());
}

TEST_CASE("a group whose leader was killed is still found and ended by its pid file", "[unit]") {
  TempDir dir;
  const std::string pid_file = (dir.path / "child.pid").string();
  // A leader with a worker, as nginx's master and its workers.
  auto pid = Spawn({.argv = {"sh", "-c", "sleep 30 & wait"}, .pid_file = pid_file});
  REQUIRE(pid.ok());
  REQUIRE(Eventually([&] { return Members(*pid).size() == 2; }));
  ::kill(*pid, SIGKILL);  // the leader only
  REQUIRE(Eventually([&] { return Exited(*pid); }));
  REQUIRE(Members(*pid).size() == 1);  // the worker lives on in the group
  CHECK(LiveGroup(pid_file) == *pid);
  CHECK(EndLeftover(pid_file, SIGTERM, Seconds(5)));
  CHECK(Members(*pid).empty());
}

TEST_CASE("Child: started, seen to exit, restarted, stopped with its group", "[unit]") {
  TempDir dir;
  Child child({.argv = {"sh", "-c", "sleep 30 & exec sleep 30"},
               .pid_file = (dir.path / "child.pid").string()});
  REQUIRE(child.Start().ok());
  const pid_t first = child.pid();
  REQUIRE(first > 0);
  CHECK_FALSE(child.CheckExited());
  REQUIRE(child.Signal(SIGKILL));
  REQUIRE(Eventually([&] { return child.CheckExited(); }));
  CHECK(child.pid() == -1);
  CHECK_FALSE(child.Signal(SIGHUP));
  // What it left of its group was ended with it.
  CHECK(Eventually([&] { return Members(first).empty(); }));
  REQUIRE(child.Start().ok());
  CHECK(child.pid() != first);
  const pid_t second = child.pid();
  child.Stop(SIGTERM, Seconds(5));
  CHECK(child.pid() == -1);
  CHECK(Members(second).empty());
}

TEST_CASE("RunProgram collects output and exit codes, and kills at its timeout", "[unit]") {
  auto said = RunProgram({"sh", "-c", "echo hello; exit 3"});
  REQUIRE(said.ok());
  CHECK(said->exit_code == 3);
  CHECK(said->output == "hello\n");
  const auto start = std::chrono::steady_clock::now();
  auto slow = RunProgram({"sleep", "30"}, {.timeout = Milliseconds(200)});
  REQUIRE(slow.ok());
  CHECK(slow->exit_code == -1);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
}

TEST_CASE("RunProgram reads its stdin from a file", "[unit]") {
  TempDir dir;
  const fs::path input = dir.path / "in.txt";
  std::ofstream(input) << "one\ntwo\n";
  auto counted = RunProgram({"wc", "-l"}, {.input_file = input.string()});
  REQUIRE(counted.ok());
  CHECK(counted->exit_code == 0);
  CHECK(counted->output == "2\n");
  auto missing = RunProgram({"cat"}, {.input_file = (dir.path / "none").string()});
  CHECK_FALSE(missing.ok());  // no such input: not started, not run on an empty stdin
}

TEST_CASE("a piped program's output is read as it comes; its failure says why", "[unit]") {
  TempDir dir;
  auto program = PipedProgram::Start(
      {.argv = {"sh", "-c", "seq 1 20000"}, .output_file = (dir.path / "err").string()});
  REQUIRE(program.ok());
  std::string all;
  char buffer[1000];
  for (;;) {
    auto got = (*program)->Read(buffer, sizeof buffer);
    REQUIRE(got.ok());
    if (*got == 0) break;
    CHECK(*got <= sizeof buffer);
    all.append(buffer, *got);
  }
  CHECK(all.size() == 108894);  // "1\n" .. "20000\n"
  CHECK(all.substr(all.size() - 6) == "20000\n");

  auto failing = PipedProgram::Start({.argv = {"sh", "-c",
                                               "echo part; echo 'no such table' >&2; "
                                               "exit 2"},
                                      .output_file = (dir.path / "err2").string()});
  REQUIRE(failing.ok());
  auto first = (*failing)->Read(buffer, sizeof buffer);
  REQUIRE(first.ok());
  CHECK(std::string(buffer, *first) == "part\n");
  auto end = (*failing)->Read(buffer, sizeof buffer);
  REQUIRE_FALSE(end.ok());
  CHECK_THAT(end.status().message(),
             Catch::Contains("exited with 2") && Catch::Contains("no such table"));

  // A reader that goes away ends the program (and what it started) with it.
  auto endless = PipedProgram::Start({.argv = {"sh", "-c", "yes & wait"}});
  REQUIRE(endless.ok());
  REQUIRE((*endless)->Read(buffer, sizeof buffer).ok());
  const pid_t shell = (*endless)->pid();
  CHECK_FALSE(Members(shell).empty());
  endless->reset();
  CHECK(Members(shell).empty());
}

}  // namespace
}  // namespace starling::process
