// src/files/gluster.h — a storage node's glusterd and how the agent talks to it (issue 19,
// docs/FILES.md, docs/FILES-research.md). Pure: text and argument lists in, text and argument
// lists out; the storage service (src/agent/storage.h) writes and runs them.
//
// Each storage node runs its own glusterd with a volfile the agent writes: its state, pid files
// and CLI socket under the agent's data dir (so several nodes can share a machine in tests, and
// nothing of a node lives at the package's fixed paths), listening on the node's address only.
// The agent speaks to it with the `gluster` CLI over that socket, in script mode, asking for XML.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace starling::files {

// The one volume that holds every site's files.
inline constexpr char kVolume[] = "starling";

struct GlusterdOptions {
  std::string state_dir;     // its working directory: peers, volumes, glusterd.info
  std::string run_dir;       // pid files of bricks and daemons; its CLI socket
  std::string bind_address;  // the node's address (an IP literal)
  uint16_t port = 24007;     // glusterd's management port (bricks take ports above 49152)
};
// REQUIRES: absolute dirs without whitespace, an address and a port.
Status Validate(const GlusterdOptions& options);
// The management volfile glusterd runs with (-f).
std::string RenderGlusterdVol(const GlusterdOptions& options);
// Where its CLI socket is.
std::string SocketPath(const GlusterdOptions& options);

// `gluster --mode=script --glusterd-sock=SOCK --log-file=LOG --xml ARGS...`.
std::vector<std::string> GlusterArgv(const std::string& socket, const std::string& log_file,
                                     const std::vector<std::string>& args);

// The volume's options the agent sets once it creates it: client- and server-side quorum (a
// partition never writes two versions of a file), and how long a client waits for a dead brick.
std::vector<std::pair<std::string, std::string>> VolumeOptions(uint32_t ping_timeout_s);

// auth.allow's value: the addresses that may mount the volume or reach its bricks (the cluster's
// members), sorted, comma-separated; "" for none.
std::string AuthAllow(std::vector<std::string> hosts);

// `host:/path` of a node's brick.
std::string Brick(const std::string& host, const std::string& path);

// `mount -t glusterfs -o log-file=LOG,backup-volfile-servers=B:C A:/VOLUME POINT`.
// REQUIRES: servers non-empty.
std::vector<std::string> MountArgv(const std::vector<std::string>& servers,
                                   const std::string& mount_point, const std::string& log_file);

}  // namespace starling::files
