// starling-bench-dbwrites: single-row inserts through a database endpoint for a while, each on
// its own autocommit transaction, reconnecting when the connection is lost. Prints JSON: the
// inserts acknowledged, the errors, and the longest time without an acknowledged insert (the
// "dark time" of a failover), with when it began; writes the acknowledged values, one a line,
// to OUT so a script can check that none was lost. Used by scripts/bench/db.
//
//   starling-bench-dbwrites HOST PORT USER PASSWORD DATABASE SECONDS OUT
#include <mysql.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: %s HOST PORT USER PASSWORD DATABASE SECONDS OUT\n", argv[0]);
    return 2;
  }
  const std::string host = argv[1], user = argv[3], password = argv[4], database = argv[5];
  const unsigned port = static_cast<unsigned>(std::atoi(argv[2]));
  const double seconds = std::atof(argv[6]);
  std::ofstream out(argv[7]);
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto since = [&](Clock::time_point t) {
    return std::chrono::duration<double>(t - start).count();
  };
  MYSQL* handle = nullptr;
  long acked = 0, errors = 0, next = 1;
  Clock::time_point last_ack = start;
  double max_gap = 0, max_gap_at = 0;
  bool created = false;
  while (since(Clock::now()) < seconds) {
    if (handle == nullptr) {
      handle = mysql_init(nullptr);
      const unsigned timeout = 1;
      mysql_options(handle, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
      mysql_options(handle, MYSQL_OPT_READ_TIMEOUT, &timeout);
      mysql_options(handle, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
      if (mysql_real_connect(handle, host.c_str(), user.c_str(), password.c_str(), database.c_str(),
                             port, nullptr, 0) == nullptr) {
        mysql_close(handle);
        handle = nullptr;
        ++errors;
        continue;
      }
      if (!created) {
        if (mysql_query(handle, "CREATE TABLE IF NOT EXISTS writes (v BIGINT PRIMARY KEY)") != 0) {
          std::fprintf(stderr, "create: %s\n", mysql_error(handle));
          return 1;
        }
        created = true;
      }
    }
    const std::string sql = "INSERT INTO writes (v) VALUES (" + std::to_string(next) + ")";
    if (mysql_query(handle, sql.c_str()) != 0) {
      // Not acknowledged: it may or may not have committed; the next value is a new one.
      ++errors;
      ++next;
      mysql_close(handle);
      handle = nullptr;
      continue;
    }
    const auto now = Clock::now();
    const double gap = std::chrono::duration<double>(now - last_ack).count();
    if (acked > 0 && gap > max_gap) {
      max_gap = gap;
      max_gap_at = since(last_ack);
    }
    last_ack = now;
    out << next << "\n";
    ++acked;
    ++next;
  }
  if (handle != nullptr) mysql_close(handle);
  std::printf("{\"acked\": %ld, \"errors\": %ld, \"max_gap_s\": %.3f, \"max_gap_at_s\": %.3f}\n",
              acked, errors, max_gap, max_gap_at);
  return 0;
}
