#include "src/db/transfer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace starling::db {
namespace {

// An option file value: quoted, with the escapes the option file reader knows.
std::string OptionValue(std::string_view value) {
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '\\' || c == '"') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

bool StartsWithWords(std::string_view line, std::initializer_list<std::string_view> words) {
  for (std::string_view word : words) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) {
      line.remove_prefix(1);
    }
    if (line.size() < word.size()) return false;
    for (size_t i = 0; i < word.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(line[i])) != word[i]) return false;
    }
    line.remove_prefix(word.size());
    if (!line.empty() && !std::isspace(static_cast<unsigned char>(line.front())) &&
        line.front() != '`' && line.front() != '/' && line.front() != ';') {
      return false;  // USER, CREATE DATABASES_TABLE, ...
    }
  }
  return true;
}

}  // namespace

std::string ClientOptionFile(const ClientLogin& login) {
  return fmt::format("[client]\nhost={}\nport={}\nuser={}\npassword={}\nprotocol=tcp\n",
                     OptionValue(login.host), login.port, OptionValue(login.user),
                     OptionValue(login.password));
}

std::vector<std::string> DumpArgs(const std::string& program, const std::string& option_file,
                                  const std::string& schema) {
  // --defaults-extra-file must come first.
  return {program,
          "--defaults-extra-file=" + option_file,
          "--single-transaction",
          "--quick",
          "--skip-lock-tables",
          "--no-tablespaces",
          "--hex-blob",
          "--routines",
          "--triggers",
          schema};
}

std::vector<std::string> ImportArgs(const std::string& program, const std::string& option_file,
                                    const std::string& schema) {
  return {program, "--defaults-extra-file=" + option_file, "--batch", "--database=" + schema};
}

std::string StagingSchema(std::string_view schema) { return std::string(schema) + "$import"; }

std::string GrantPattern(std::string_view schema) {
  std::string pattern;
  for (char c : schema) {
    if (c == '_' || c == '%') pattern += '\\';
    pattern += c;
  }
  return pattern;
}

Status DumpChecker::Feed(std::string_view piece) {
  while (!piece.empty()) {
    const size_t end = piece.find('\n');
    if (end == std::string_view::npos) {
      // Only a line's beginning matters: keep enough of it to recognize the words.
      if (partial_.size() < 64) partial_.append(piece.substr(0, 64 - partial_.size()));
      return Status::Ok();
    }
    if (partial_.size() < 64)
      partial_.append(piece.substr(0, std::min<size_t>(end, 64 - partial_.size())));
    ++line_number_;
    if (Status s = CheckLine(partial_); !s.ok()) return s;
    partial_.clear();
    piece.remove_prefix(end + 1);
  }
  return Status::Ok();
}

Status DumpChecker::Finish() {
  if (partial_.empty()) return Status::Ok();
  ++line_number_;
  Status checked = CheckLine(partial_);
  partial_.clear();
  return checked;
}

Status DumpChecker::CheckLine(std::string_view line) {
  if (StartsWithWords(line, {"USE"}) || StartsWithWords(line, {"CREATE", "DATABASE"}) ||
      StartsWithWords(line, {"CREATE", "SCHEMA"})) {
    return Status::InvalidArgument(fmt::format(
        "line {} of the dump names a database ({}): dump one schema without --databases "
        "(mariadb-dump NAME, or starling db dump)",
        line_number_, line.substr(0, 40)));
  }
  return Status::Ok();
}

std::string QuoteIdentifier(std::string_view name) {
  std::string quoted = "`";
  for (char c : name) {
    if (c == '`') quoted += '`';
    quoted += c;
  }
  return quoted + "`";
}

std::string SwapStatement(std::string_view schema, std::string_view staging,
                          const std::vector<std::string>& staged,
                          const std::set<std::string>& existing) {
  const std::string site = QuoteIdentifier(schema);
  const std::string stage = QuoteIdentifier(staging);
  std::vector<std::string> moves;
  size_t parked = 0;
  for (const std::string& table : staged) {
    const std::string name = QuoteIdentifier(table);
    if (existing.contains(table)) {
      // site.t → stage.<spare>, stage.t → site.t, stage.<spare> → stage.t: a swap.
      std::string spare;
      do {
        spare = fmt::format("starling_swap_{}", parked++);
      } while (std::find(staged.begin(), staged.end(), spare) != staged.end());
      const std::string parked_name = QuoteIdentifier(spare);
      moves.push_back(fmt::format("{}.{} TO {}.{}", site, name, stage, parked_name));
      moves.push_back(fmt::format("{}.{} TO {}.{}", stage, name, site, name));
      moves.push_back(fmt::format("{}.{} TO {}.{}", stage, parked_name, stage, name));
    } else {
      moves.push_back(fmt::format("{}.{} TO {}.{}", stage, name, site, name));
    }
  }
  return fmt::format("RENAME TABLE {}", fmt::join(moves, ", "));
}

}  // namespace starling::db
