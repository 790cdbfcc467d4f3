#include "src/db/grastate.h"

#include <cctype>
#include <charconv>

namespace starling::db {
namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

std::optional<int64_t> Integer(std::string_view text) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

bool IsUuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

constexpr std::string_view kNoHistory = "00000000-0000-0000-0000-000000000000";

}  // namespace

Result<GraState> ParseGraState(std::string_view text) {
  GraState state;
  bool saw_uuid = false, saw_seqno = false;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    line = Trim(line);
    if (line.empty() || line.front() == '#') continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return Status::Corruption("grastate.dat: a line without a field: " + std::string(line));
    }
    const std::string_view field = Trim(line.substr(0, colon));
    const std::string_view value = Trim(line.substr(colon + 1));
    if (field == "uuid") {
      if (!IsUuid(value)) return Status::Corruption("grastate.dat: bad uuid " + std::string(value));
      state.position.uuid = value == kNoHistory ? "" : std::string(value);
      saw_uuid = true;
    } else if (field == "seqno") {
      auto seqno = Integer(value);
      if (!seqno || *seqno < -1) {
        return Status::Corruption("grastate.dat: bad seqno " + std::string(value));
      }
      state.position.seqno = *seqno;
      saw_seqno = true;
    } else if (field == "safe_to_bootstrap") {
      state.safe_to_bootstrap = value == "1";
    }
  }
  if (!saw_uuid || !saw_seqno) return Status::Corruption("grastate.dat: no uuid or seqno");
  return state;
}

std::string MarkSafeToBootstrap(std::string_view text) {
  std::string out;
  bool marked = false;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (Trim(line).starts_with("safe_to_bootstrap")) {
      out += "safe_to_bootstrap: 1\n";
      marked = true;
    } else {
      out += std::string(line) + "\n";
    }
  }
  if (!marked) out += "safe_to_bootstrap: 1\n";
  return out;
}

std::optional<Position> RecoveredPosition(std::string_view log) {
  static constexpr std::string_view kMarker = "WSREP: Recovered position: ";
  const size_t at = log.rfind(kMarker);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = log.substr(at + kMarker.size());
  if (rest.size() < 38 || !IsUuid(rest.substr(0, 36)) || rest[36] != ':') return std::nullopt;
  const std::string_view uuid = rest.substr(0, 36);
  rest.remove_prefix(37);
  size_t digits = 0;
  if (!rest.empty() && rest[0] == '-') digits = 1;
  while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) ++digits;
  // The number ends its line: anything glued to it makes it unreadable.
  if (digits < rest.size() && rest[digits] != '\n' && rest[digits] != '\r' && rest[digits] != ' ') {
    return std::nullopt;
  }
  auto seqno = Integer(rest.substr(0, digits));
  if (!seqno || *seqno < -1) return std::nullopt;
  return Position{uuid == kNoHistory ? "" : std::string(uuid), *seqno};
}

}  // namespace starling::db
