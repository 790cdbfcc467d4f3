// src/base/file.h — a whole small file as a string (configs, keyrings, cgroup and /proc files).
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "src/base/status.h"

namespace starling {

// NotFound when the file cannot be opened.
inline Result<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read " + path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace starling
