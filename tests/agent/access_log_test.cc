// [unit] following nginx's access log on a real file: appends, a partial line, a rename
// rotation (the old file read to its end first), a truncation, and a file that appears late.
#include "src/agent/access_log.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

namespace starling::agent {
namespace {

namespace fs = std::filesystem;

struct Dir {
  Dir() {
    char pattern[] = "/tmp/starling-tail-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    path = pattern;
  }
  ~Dir() { fs::remove_all(path); }
  fs::path path;
};

void Append(const fs::path& file, const std::string& text) {
  std::ofstream(file, std::ios::app) << text;
}

using Lines = std::vector<std::string>;

TEST_CASE("access log tailer: from the end, across a rotation and a truncation", "[unit]") {
  Dir dir;
  const fs::path log = dir.path / "access.log";
  Append(log, "old-1\nold-2\n");
  AccessLogTailer tailer(log.string());
  CHECK(tailer.Poll().empty());  // an earlier run's lines are not counted again
  Append(log, "a\nb");
  CHECK(tailer.Poll() == Lines{"a"});
  Append(log, "c\n");
  CHECK(tailer.Poll() == Lines{"bc"});

  // Renamed; nginx writes to the old file until it reopens, then to a new one.
  fs::rename(log, dir.path / "access.log.1");
  Append(dir.path / "access.log.1", "d\n");
  CHECK(tailer.Poll() == Lines{"d"});  // no new file yet: still the old one
  Append(dir.path / "access.log.1", "e\n");
  Append(log, "f\n");
  CHECK(tailer.Poll() == Lines{"e", "f"});
  CHECK(tailer.rotations() == 1);

  // Truncated in place (copytruncate): noticed while the file is shorter than what was read.
  fs::resize_file(log, 0);
  CHECK(tailer.Poll().empty());
  CHECK(tailer.rotations() == 2);
  Append(log, "g\n");
  CHECK(tailer.Poll() == Lines{"g"});
}

TEST_CASE("access log tailer: a log that does not exist yet is read whole once it does", "[unit]") {
  Dir dir;
  const fs::path log = dir.path / "access.log";
  AccessLogTailer tailer(log.string());
  CHECK(tailer.Poll().empty());
  Append(log, "first\n");
  CHECK(tailer.Poll() == Lines{"first"});
}

}  // namespace
}  // namespace starling::agent
