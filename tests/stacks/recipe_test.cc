// [unit] stack recipes (src/stacks/recipe.h): the php recipe and the mmdebstrap command line that
// builds it; its files written where the tree will have them.
#include "src/stacks/recipe.h"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace starling::stacks {
namespace {

bool Has(const std::vector<std::string>& args, const std::string& arg) {
  return std::find(args.begin(), args.end(), arg) != args.end();
}

TEST_CASE("the php recipe: Apache with mod_php under tini, serving $PORT at /var/www/html",
          "[unit]") {
  auto php = FindRecipe("php");
  REQUIRE(php.ok());
  CHECK(php->docroot == "/var/www/html");
  CHECK(php->command.front() == "/usr/bin/tini");
  for (const char* package : {"apache2", "libapache2-mod-php8.2", "php8.2-mysql", "php8.2-gd",
                              "php8.2-intl", "php8.2-opcache", "tini", "ca-certificates"}) {
    INFO(package);
    CHECK(std::count(php->packages.begin(), php->packages.end(), package) == 1);
  }
  const auto conf = std::find_if(php->files.begin(), php->files.end(), [](const auto& f) {
    return f.first == "/etc/apache2/apache.conf";
  });
  REQUIRE(conf != php->files.end());
  CHECK_THAT(conf->second, Catch::Contains("Listen ${PORT}") &&
                               Catch::Contains("ErrorLog /dev/stderr") &&
                               Catch::Contains("DocumentRoot /var/www/html"));
  // PHP sessions go to the site's database (src/stacks/php/session.php), prepended to scripts.
  const auto file = [&](const std::string& path) {
    const auto found = std::find_if(php->files.begin(), php->files.end(),
                                    [&](const auto& f) { return f.first == path; });
    return found == php->files.end() ? std::string() : found->second;
  };
  CHECK_THAT(file("/etc/php/8.2/apache2/conf.d/90-starling.ini"),
             Catch::Contains("auto_prepend_file = /usr/share/starling/session.php"));
  CHECK_THAT(file("/usr/share/starling/session.php"),
             Catch::StartsWith("<?php") && Catch::Contains("session_set_save_handler") &&
                 Catch::EndsWith("}\n"));
  CHECK(FindRecipe("ruby").status().code() == StatusCode::kNotFound);

  const auto args =
      MmdebstrapArgs(*php, "/b/files", "/etc/apt/sources.list.d/debian.sources", "/b/rootfs");
  CHECK(args.front() == "mmdebstrap");
  CHECK(Has(args, "--variant=essential"));
  CHECK(Has(args, "--dpkgopt=path-exclude=/usr/share/doc/*"));
  // The files go in first, then the recipe's hooks, then setuid bits go; suite, target, sources.
  const auto files = std::find_if(args.begin(), args.end(), [](const std::string& a) {
    return a.find("'/b/files'/.") != std::string::npos;
  });
  const auto rewrite =
      std::find(args.begin(), args.end(), "--customize-hook=chroot \"$1\" a2enmod -q rewrite");
  REQUIRE(files != args.end());
  REQUIRE(rewrite != args.end());
  CHECK(files < rewrite);
  CHECK_THAT(args[args.size() - 4], Catch::Contains("chmod ug-s"));
  CHECK(
      std::vector<std::string>(args.end() - 3, args.end()) ==
      std::vector<std::string>{"bookworm", "/b/rootfs", "/etc/apt/sources.list.d/debian.sources"});
}

TEST_CASE("a recipe's files are written under their paths in the tree", "[unit]") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("starling-recipe-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto php = FindRecipe("php");
  REQUIRE(php.ok());
  REQUIRE(WriteRecipeFiles(*php, dir.string()).ok());
  for (const auto& [path, contents] : php->files) {
    std::ifstream in(dir / path.substr(1));
    std::stringstream read;
    read << in.rdbuf();
    CHECK(read.str() == contents);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace starling::stacks
