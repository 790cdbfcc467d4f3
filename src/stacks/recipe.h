// src/stacks/recipe.h — how a stack's root filesystem is built from Debian packages (issue 18,
// docs/STACKS.md): the packages, the files put in, the commands run in it, and how a copy
// starts; and the mmdebstrap command line that builds it. Pure: the CLI runs the command.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace starling::stacks {

struct Recipe {
  std::string name;                   // the stack's name ("php")
  std::string suite = "bookworm";     // Debian's
  std::vector<std::string> packages;  // installed (recommends off), over the essential set
  // Files put into the tree: (absolute path in the tree, contents).
  std::vector<std::pair<std::string, std::string>> files;
  // Shell commands run on the host after the packages are in, "$1" the tree (mmdebstrap's
  // customize hooks).
  std::vector<std::string> hooks;
  std::vector<std::string> command;  // how a copy starts (argv), serving $PORT
  std::string docroot;               // where a site's tree goes
};

// The recipes Starling ships: "php" (Apache 2.4 with mod_php 8.2, under tini).
std::vector<std::string> RecipeNames();
Result<Recipe> FindRecipe(const std::string& name);

// mmdebstrap's argv building `recipe` into `target`, from the package sources `sources` (a
// sources file such as /etc/apt/sources.list.d/debian.sources, or a mirror's URL). `files_dir`
// holds the recipe's files, each under its path in the tree (WriteRecipeFiles), copied in by
// a hook. Documentation, manual pages and locales are left out; setuid and setgid bits are
// dropped (copies need none, and their roots are mounted nosuid).
std::vector<std::string> MmdebstrapArgs(const Recipe& recipe, const std::string& files_dir,
                                        const std::string& sources, const std::string& target);

// Writes the recipe's files under `files_dir` at their paths in the tree.
Status WriteRecipeFiles(const Recipe& recipe, const std::string& files_dir);

}  // namespace starling::stacks
