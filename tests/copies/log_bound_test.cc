// [unit] a copy's log kept bounded (src/copies/log_bound.h): past its limit the newer half is
// kept as ".1" and the log starts again, while the copy's open file (appending) keeps writing.
#include "src/copies/log_bound.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace starling::copies {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST_CASE("a copy's log past its limit keeps its newer half and starts again", "[unit]") {
  const fs::path dir = fs::temp_directory_path() / ("starling-log-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string log = (dir / "log").string();
  CHECK(BoundLog(log, 1000).value() == false);  // none yet: nothing to do
  // The copy's end of it: appending, as runc and the process driver open it.
  const int copy = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  REQUIRE(copy >= 0);
  std::string lines;
  for (int i = 0; i < 100; ++i) lines += "line " + std::to_string(1000 + i) + "\n";  // 1,000 B
  REQUIRE(::write(copy, lines.data(), lines.size()) == static_cast<ssize_t>(lines.size()));
  CHECK(BoundLog(log, 1000).value() == false);  // at the limit: kept as it is
  REQUIRE(::write(copy, "more\n", 5) == 5);
  CHECK(BoundLog(log, 1000).value() == true);
  CHECK(fs::file_size(log) == 0);
  const std::string kept = Read(log + ".1");
  CHECK(kept.size() == 500);
  CHECK(kept == (lines + "more\n").substr(lines.size() + 5 - 500));
  // The copy writes on, from the start of the emptied log.
  REQUIRE(::write(copy, "after\n", 6) == 6);
  CHECK(Read(log) == "after\n");
  ::close(copy);
  // A second rotation replaces the ".1".
  std::ofstream(log, std::ios::app) << std::string(1500, 'x');
  CHECK(BoundLog(log, 1000).value() == true);
  CHECK(Read(log + ".1") == std::string(500, 'x'));
  CHECK_FALSE(fs::exists(log + ".1.partial"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace starling::copies
