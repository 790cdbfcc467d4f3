// [unit] small whole files (base/file.h): the end of a log for an error message.
#include "base/file.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

namespace starling {
namespace {

TEST_CASE("ReadTail: a short file whole, a long one's end marked as cut, a missing one empty",
          "[unit]") {
  char pattern[] = "/tmp/starling-tail-XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  const std::filesystem::path dir = pattern;
  std::ofstream(dir / "short") << "one\ntwo\n";
  CHECK(ReadTail(dir / "short", 100) == "one\ntwo\n");
  std::ofstream(dir / "long") << std::string(1000, 'a') << "the end\n";
  CHECK(ReadTail(dir / "long", 8) == "...the end\n");
  CHECK(ReadTail(dir / "missing", 8).empty());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace starling
