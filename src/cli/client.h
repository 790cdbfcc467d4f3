// src/cli/client.h — what every `starling` command shares: the call to an agent's HTTP API, the
// one way errors come back (the API's error kind → the exit code), the write flags (--ack,
// --timeout-ms) and --json.
//
// Exit codes: 0 done; 2 bad input (the command line or what the agent refused as invalid);
// 3 not found; 4 conflict (exists already, or not possible in the present state); 5 unavailable
// (no agent answers, or a service it needs does not); 6 timed out (e.g. an acknowledgement
// that did not come in time); 7 not allowed (no credential, a bad one, or one that may not do
// this); 1 anything else.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"

namespace starling::cli {

using Json = nlohmann::json;

// What every command may use: the agent's address and whether to print JSON.
struct Globals {
  std::string api;
  bool json = false;
};

// Calls an agent's API at `api` ("host:port"). The parsed body, or the error the agent gave
// (its kind kept), or kUnavailable when no agent answers.
Result<Json> Call(const std::string& api, const std::string& method, const std::string& path,
                  const Json& body = nullptr, int read_timeout_s = 5);

// POSTs the file `file` to `path` as the body, streamed (progress on a terminal), with `headers`
// ("Name: value") besides the credential.
Result<Json> Upload(const std::string& api, const std::string& path, const std::string& file,
                    const std::vector<std::string>& headers, int read_timeout_s,
                    const std::string& what = "the image");

// GETs `path`, writing the body to `out` as it comes (progress on a terminal); {"bytes": N} when
// the whole body came. An answer cut before its end is an error (what was written is incomplete).
Result<Json> Download(const std::string& api, const std::string& path, std::FILE* out,
                      int read_timeout_s);

// Download to `file` through a temporary name ("FILE.partial"), renamed only once the whole body
// came: a cut answer leaves no file.
Result<Json> DownloadToFile(const std::string& api, const std::string& path,
                            const std::string& file, int read_timeout_s);

// Appends the `field` array of `path` on every live member's API to `all`. With `seen`, asks
// each for what came after the last sequence number seen from it, and remembers the newest.
Status Gather(const Globals& g, const std::string& path, const char* field, Json* all,
              std::map<std::string, uint64_t>* seen = nullptr);

// The exit code for an error of `code` (see above).
int ExitCodeOf(StatusCode code);
// Prints "starling: <message>" on stderr; returns the exit code of its kind.
int Fail(const Status& status);

// Prints `value` as indented JSON on stdout; returns 0.
int PrintJson(const Json& value);
// "1.5 MiB".
std::string Bytes(double bytes);

// --ack and --timeout-ms of a command that writes to the state log.
struct WriteFlags {
  std::string ack = "one";
  unsigned timeout_ms = 5000;
  // "?ack=...&timeout_ms=..."
  std::string Query() const;
  // How long to wait for the agent's answer: the acknowledgement's timeout and some.
  int WaitSeconds() const { return static_cast<int>(timeout_ms / 1000) + 5; }
};
void AddWriteFlags(CLI::App* command, WriteFlags* flags);
// NAME=VALUE pairs (a push's --env) as a JSON object; kInvalidArgument for one without a name.
Result<Json> EnvObject(const std::vector<std::string>& pairs);
// --json on `command`.
void AddJsonFlag(CLI::App* command, Globals* globals);

// Runs `body` when `command` was chosen; its exit code lands in `*exit_code`.
void OnRun(CLI::App* command, int* exit_code, std::function<int()> body);

}  // namespace starling::cli
