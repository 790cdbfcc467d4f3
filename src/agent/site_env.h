// src/agent/site_env.h — what a site's copies get in their environment besides the image's
// (issue 18): its settings (site update --env), its secrets opened (site update --secret, sealed
// in the log under keys::SiteSecret), and its database's settings (src/agent/site_database.h),
// which win.
#pragma once

#include <map>
#include <string>

#include "base/status.h"
#include "src/agent/config.h"
#include "src/agent/log_driver.h"
#include "src/net/sealer.h"

namespace starling::agent {

// kNotFound for no such site; kUnavailable while a secret or its database has not reached this
// node (the copy waits: the next round tries again).
Result<std::map<std::string, std::string>> SiteEnv(const AgentConfig& config, const LogDriver& log,
                                                   const net::Keyring& keyring,
                                                   const std::string& site);

}  // namespace starling::agent
