// [unit] reading a copy's log for `starling logs` (src/copies/log_read.h): its last lines across
// the rotated half, and, for a follower, whole lines after a position, once each.
#include "src/copies/log_read.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace starling::copies {
namespace {

namespace fs = std::filesystem;
using Lines = std::vector<std::string>;

struct Dir {
  fs::path path = fs::temp_directory_path() / ("starling-logread-" + std::to_string(::getpid()));
  Dir() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~Dir() { fs::remove_all(path); }
};

void Append(const fs::path& file, const std::string& text) {
  std::ofstream(file, std::ios::binary | std::ios::app) << text;
}

TEST_CASE("the last lines of a copy's log reach back into its rotated half", "[unit]") {
  Dir dir;
  const fs::path log = dir.path / "log";
  CHECK(LastLogLines(log, 5).lines.empty());  // no log yet
  CHECK(LastLogLines(log, 5).end == 0);
  Append(log.string() + ".1", "a\nb\nc\n");
  Append(log, "d\ne\npartial");
  const LogLines last = LastLogLines(log, 3);
  CHECK(last.lines == Lines{"c", "d", "e"});  // the line still being written waits
  CHECK(last.end == 4);
  CHECK(LastLogLines(log, 100).lines == Lines{"a", "b", "c", "d", "e"});
  // Reading only the end of a long log drops the line it cuts ("d" from its 'd').
  CHECK(LastLogLines(log, 100, 10).lines == Lines{"e"});
  CHECK(LastLogLines(log, 100, 9).lines == Lines{"e"});
}

TEST_CASE("a follower gets each whole line once, and starts again after a rotation", "[unit]") {
  Dir dir;
  const fs::path log = dir.path / "log";
  Append(log, "one\ntw");
  LogLines read = LogLinesAfter(log, 0);
  CHECK(read.lines == Lines{"one"});
  CHECK(read.end == 4);
  read = LogLinesAfter(log, read.end);  // nothing new ended
  CHECK(read.lines.empty());
  CHECK(read.end == 4);
  Append(log, "o\nthree\n");
  read = LogLinesAfter(log, read.end);
  CHECK(read.lines == Lines{"two", "three"});
  CHECK_FALSE(read.restarted);
  const uint64_t before = read.end;
  // Rotated (truncated) and written again: shorter than the position.
  fs::resize_file(log, 0);
  Append(log, "four\n");
  read = LogLinesAfter(log, before);
  CHECK(read.restarted);
  CHECK(read.lines == Lines{"four"});
  CHECK(read.end == 5);
}

TEST_CASE("a follower that fell behind gets the newest lines and how much it missed", "[unit]") {
  Dir dir;
  const fs::path log = dir.path / "log";
  Append(log, "0123456789\nabc\ndef\n");
  const LogLines read = LogLinesAfter(log, 0, 7);  // the last 7 bytes: "bc\ndef\n", a cut line
  CHECK(read.lines == Lines{"def"});
  CHECK(read.skipped == 12);
  CHECK(read.end == 19);
  // Cut exactly after a newline: no line is lost.
  CHECK(LogLinesAfter(log, 0, 8).lines == Lines{"abc", "def"});
}

}  // namespace
}  // namespace starling::copies
