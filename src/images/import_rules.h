// src/images/import_rules.h — what every import (a directory, an archive) ends with: device
// nodes under dev/ left out, setuid files refused together, and the manifest put in order with
// hard links resolved and validated.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "src/images/importer.h"
#include "store/images/manifest.h"

namespace starling::images {

// A special file under dev/: a root file system's device nodes, which the runtime provides.
bool UnderDev(const std::string& path);

// The setuid and setgid files of a tree, refused together (a root file system has a dozen:
// naming one at a time would take a dozen pushes). Ok when there are none.
Status RefuseSetuid(const std::vector<std::string>& paths);

// Keeps an import within its ImportLimits: called with each regular file's size before it is read.
class ImportBudget {
 public:
  // `archive_bytes`: the archive's own size (0 for a directory: no expansion check).
  ImportBudget(const ImportLimits& limits, uint64_t archive_bytes);
  // Counts `size` more bytes for `path`; kResourceExhausted (quota, disk) or kInvalidArgument
  // (expansion) naming the limit and how to change it, when they would go past one.
  Status Admit(const std::string& path, uint64_t size);

 private:
  Status CheckDisk(const std::string& path, uint64_t upcoming);

  ImportLimits limits_;
  uint64_t archive_bytes_;
  uint64_t admitted_ = 0;
  uint64_t next_disk_check_ = 0;  // admitted bytes at which the disk is looked at again
};

// Sorts the entries into the manifest's order, makes the first name (in that order) of each
// hard-linked file hold its content, validates, and fills `manifest` only when all is well.
Status FinishManifest(std::vector<FileEntry> files, const ImportOptions& options,
                      Manifest* manifest);

}  // namespace starling::images
