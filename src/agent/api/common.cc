// The write parameters and answer every writing route shares (context.h).
#include <cstdlib>

#include "src/agent/api/context.h"

namespace starling::agent::api {

Result<WriteOptions> WriteParams(const Request& request) {
  WriteOptions options;
  auto mode = store::ParseAckMode(request.Param("ack"));
  if (!mode.ok()) return mode.status();
  options.mode = *mode;
  if (request.Has("timeout_ms")) {
    const std::string text = request.Param("timeout_ms");
    char* end = nullptr;
    const long value = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || value < 1 || value > 600000) {
      return Status::InvalidArgument("timeout_ms must be a whole number from 1 to 600000");
    }
    options.timeout = std::chrono::milliseconds(value);
  }
  return options;
}

Result<Json> WriteAnswer(const Context& context, const WriteOptions& options, std::vector<Put> puts,
                         Json result) {
  auto written = context.Write(std::move(puts), options.mode, options.timeout);
  if (!written.ok()) return written.status();
  result["written"] = {{"origin", written->origin}, {"seq", written->seq}};
  return result;
}

}  // namespace starling::agent::api
