// src/agent/files_mount.h — a worker's mount of the site files' volume (issue 19,
// docs/FILES.md): `mount -t glusterfs` at data_dir/files from the storage nodes that know the
// volume started (the first by name, the others as backup volfile servers), once one does;
// checked each second — a mount whose client died ("Transport endpoint is not connected") is
// lazily unmounted and mounted again. Copies of sites with persisted paths start only while it is
// mounted (src/files/site_dirs.h binds their directories into them).
//
// Threading: Update and Mounted from any thread (the io thread); mount, unmount and the checks
// (which can block on a stuck file system) run on the service's own thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/status.h"
#include "src/agent/config.h"

namespace starling::agent {

class FilesMount {
 public:
  explicit FilesMount(const AgentConfig& config);
  ~FilesMount();
  FilesMount(const FilesMount&) = delete;
  FilesMount& operator=(const FilesMount&) = delete;

  // Makes the mount point and starts the service's thread (a mount an earlier run left is
  // checked, and kept if it answers).
  Status Start();
  // The volfile servers (src/rules/files_volume.h FilesVolfileServers); empty: no volume yet.
  void Update(std::vector<std::string> servers);
  // Whether the volume is mounted and answered at the last check.
  bool Mounted() const { return mounted_.load(); }
  // Where it is mounted.
  const std::string& point() const { return point_; }
  nlohmann::json StateJson() const;
  // Unmounts it (lazily: copies still holding files keep them until they end). Blocking.
  void Stop();

 private:
  void Run();
  void Tick();
  bool IsMountPoint() const;
  // How many of the volume's bricks the mount's client reaches, of how many.
  std::pair<size_t, size_t> BricksConnected() const;

  AgentConfig config_;
  std::string point_, log_file_;
  std::atomic<bool> mounted_{false};

  mutable std::mutex mutex_;  // guards what follows
  std::vector<std::string> servers_;
  std::string why_;
  bool stopping_ = false;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace starling::agent
