// src/copies/log_read.cc — see log_read.h.
#include "src/copies/log_read.h"

#include <fstream>

namespace starling::copies {
namespace {

// Bytes [from, to) of a file (fewer when it is shorter).
std::string ReadRange(const std::filesystem::path& path, uint64_t from, uint64_t to) {
  std::ifstream in(path, std::ios::binary);
  if (!in || to <= from) return "";
  in.seekg(static_cast<std::streamoff>(from));
  std::string text(to - from, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

uint64_t SizeOf(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

// Whether reading from `from` starts inside a line (the byte before it ends none).
bool CutsLine(const std::filesystem::path& path, uint64_t from) {
  return from > 0 && ReadRange(path, from - 1, from) != "\n";
}

// The whole lines of `text` (a cut first line dropped when `cut_front`), appended to `lines`;
// the bytes of `text` they take, up to the last newline.
size_t SplitLines(const std::string& text, bool cut_front, std::vector<std::string>* lines) {
  const size_t last = text.rfind('\n');
  if (last == std::string::npos) return 0;
  size_t start = cut_front ? text.find('\n') + 1 : 0;
  while (start <= last) {
    const size_t newline = text.find('\n', start);
    lines->push_back(text.substr(start, newline - start));
    start = newline + 1;
  }
  return last + 1;
}

}  // namespace

LogLines LastLogLines(const std::filesystem::path& log, size_t count, uint64_t max_bytes) {
  LogLines out;
  const uint64_t size = SizeOf(log);
  const uint64_t from = size > max_bytes ? size - max_bytes : 0;
  const std::string text = ReadRange(log, from, size);
  out.end = from + SplitLines(text, CutsLine(log, from), &out.lines);
  if (out.lines.size() < count && from == 0) {
    const std::filesystem::path older = log.string() + ".1";
    const uint64_t older_size = SizeOf(older);
    const uint64_t older_from = older_size > max_bytes ? older_size - max_bytes : 0;
    std::vector<std::string> before;
    SplitLines(ReadRange(older, older_from, older_size), CutsLine(older, older_from), &before);
    out.lines.insert(out.lines.begin(), before.begin(), before.end());
  }
  if (out.lines.size() > count) {
    out.lines.erase(out.lines.begin(), out.lines.end() - static_cast<ptrdiff_t>(count));
  }
  return out;
}

LogLines LogLinesAfter(const std::filesystem::path& log, uint64_t after, uint64_t max_bytes) {
  LogLines out;
  const uint64_t size = SizeOf(log);
  if (size < after) {
    out.restarted = true;
    after = 0;
  }
  uint64_t from = after;
  if (size - from > max_bytes) {
    from = size - max_bytes;
  }
  const bool cut = from > after && CutsLine(log, from);
  const std::string text = ReadRange(log, from, size);
  const size_t used = SplitLines(text, cut, &out.lines);
  if (used == 0) {  // no line ended yet: the same position next time
    out.end = after;
    return out;
  }
  out.skipped = from - after;
  out.end = from + used;
  return out;
}

}  // namespace starling::copies
