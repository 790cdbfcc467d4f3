// [unit] a site's dump and import, the pure parts (src/db/transfer.h): the option file keeps the
// password off the command line and quotes it; grant patterns match one schema only; a dump that
// names a database is refused wherever its lines are split; the swap statement.
#include "src/db/transfer.h"

#include <catch2/catch.hpp>

namespace starling::db {
namespace {

TEST_CASE("a client option file quotes what it holds", "[unit][db]") {
  const std::string file = ClientOptionFile({"10.0.0.1", 3306, "shop", "se\"cr\\et"});
  CHECK(file ==
        "[client]\nhost=\"10.0.0.1\"\nport=3306\nuser=\"shop\"\npassword=\"se\\\"cr\\\\et\"\n"
        "protocol=tcp\n");
  const auto dump = DumpArgs("mariadb-dump", "/run/x.cnf", "shop");
  REQUIRE(dump.size() > 2);
  CHECK(dump[1] == "--defaults-extra-file=/run/x.cnf");  // it must come first
  CHECK(dump.back() == "shop");
  for (const auto& arg : dump) CHECK(arg.find("cr") == std::string::npos);
  CHECK(ImportArgs("mariadb", "/run/x.cnf", "shop$import") ==
        std::vector<std::string>{"mariadb", "--defaults-extra-file=/run/x.cnf", "--batch",
                                 "--database=shop$import"});
}

TEST_CASE("grant patterns escape the wildcards; staging names fit and are no site's",
          "[unit][db]") {
  CHECK(GrantPattern("my_shop") == "my\\_shop");
  CHECK(GrantPattern("a%b_c") == "a\\%b\\_c");
  CHECK(GrantPattern("shop") == "shop");
  CHECK(StagingSchema("my_shop") == "my_shop$import");
  CHECK(StagingSchema(std::string(kMaxImportedSchema, 'a')).size() == 64);
}

TEST_CASE("a dump that names a database is refused, however it is split", "[unit][db]") {
  struct Case {
    std::string dump;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);\n", true},
      {"-- USE nothing, a comment\nCREATE TABLE users (id INT);\n", true},
      {"CREATE TABLE t (id INT);\nUSE `shop`;\n", false},
      {"  use other;\n", false},
      {"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `shop`;\n", false},
      {"create schema x;\n", false},
      {"CREATE TABLE user_database (id INT);\n", true},
      {"INSERT INTO t VALUES ('USE x');\n", true},
      {"CREATE TABLE t (id INT);\nUSE x", false},  // a last line with no newline
  };
  for (const auto& c : cases) {
    // Whole, then in every two-piece split.
    for (size_t split = 0; split <= c.dump.size(); ++split) {
      DumpChecker checker;
      Status status = checker.Feed(std::string_view(c.dump).substr(0, split));
      if (status.ok()) status = checker.Feed(std::string_view(c.dump).substr(split));
      if (status.ok()) status = checker.Finish();
      INFO(c.dump << " split at " << split);
      CHECK(status.ok() == c.ok);
      if (!status.ok()) CHECK_THAT(status.message(), Catch::Contains("names a database"));
    }
  }
  DumpChecker lines;
  REQUIRE(lines.Feed("CREATE TABLE t (id INT);\n\nUSE x;\n").message().find("line 3") !=
          std::string::npos);
}

TEST_CASE("one statement swaps the staged tables in", "[unit][db]") {
  CHECK(SwapStatement("shop", "shop$import", {"new"}, {"old"}) ==
        "RENAME TABLE `shop$import`.`new` TO `shop`.`new`");
  CHECK(SwapStatement("shop", "shop$import", {"posts", "users"}, {"posts", "other"}) ==
        "RENAME TABLE `shop`.`posts` TO `shop$import`.`starling_swap_0`, "
        "`shop$import`.`posts` TO `shop`.`posts`, "
        "`shop$import`.`starling_swap_0` TO `shop$import`.`posts`, "
        "`shop$import`.`users` TO `shop`.`users`");
  // A spare name the dump itself uses is skipped; a name with a backquote is quoted.
  CHECK(SwapStatement("s", "s$import", {"starling_swap_0", "a`b"}, {"starling_swap_0"}) ==
        "RENAME TABLE `s`.`starling_swap_0` TO `s$import`.`starling_swap_1`, "
        "`s$import`.`starling_swap_0` TO `s`.`starling_swap_0`, "
        "`s$import`.`starling_swap_1` TO `s$import`.`starling_swap_0`, "
        "`s$import`.`a``b` TO `s`.`a``b`");
}

}  // namespace
}  // namespace starling::db
