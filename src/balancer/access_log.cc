#include "src/balancer/access_log.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace starling::balancer {

Result<AccessRecord> ParseAccessLine(std::string_view line) {
  auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return Status::InvalidArgument("access log: not a JSON object");
  }
  const auto site = json.find("site"), status = json.find("status"), bytes = json.find("bytes");
  if (site == json.end() || !site->is_string() || status == json.end() ||
      !status->is_number_integer() || bytes == json.end() || !bytes->is_number_unsigned()) {
    return Status::InvalidArgument("access log: site, status or bytes missing");
  }
  AccessRecord record;
  record.site = site->get<std::string>();
  record.status = status->get<int>();
  record.bytes = bytes->get<uint64_t>();
  if (auto time = json.find("request_time"); time != json.end() && time->is_number()) {
    record.request_time_s = time->get<double>();
  }
  if (auto upstream = json.find("upstream"); upstream != json.end() && upstream->is_string()) {
    const std::string text = upstream->get<std::string>();
    if (!text.empty() && text != "-") {
      record.upstream_tries = 1 + static_cast<int>(std::count(text.begin(), text.end(), ','));
    }
  }
  return record;
}

std::vector<std::string> LineSplitter::Feed(std::string_view bytes) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t at = bytes.find('\n'); at != std::string_view::npos; at = bytes.find('\n', start)) {
    partial_.append(bytes.substr(start, at - start));
    lines.push_back(std::move(partial_));
    partial_.clear();
    start = at + 1;
  }
  partial_.append(bytes.substr(start));
  return lines;
}

void TrafficTotals::Add(std::string_view line) {
  auto record = ParseAccessLine(line);
  if (!record.ok()) {
    ++malformed_;
    return;
  }
  SiteTraffic& site = sites_[record->site];
  ++site.requests;
  site.bytes += record->bytes;
  const int family = record->status / 100;
  ++site.status[family >= 2 && family <= 5 ? family : 0];
  if (record->upstream_tries > 1) ++site.retried;
  site.request_time_s += record->request_time_s;
}

}  // namespace starling::balancer
