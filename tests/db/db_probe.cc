// A probe run inside a copy (tests/integration/db_test.cc): connects to the site's database with
// the settings the copy was given (DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME), makes a
// table if there is none and inserts one row naming `argv[1]`. Prints "ok" or the server's
// error. Linked statically (the copy's image holds only busybox).
#include <mysql.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  const char* env[] = {"DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME"};
  for (const char* name : env) {
    if (std::getenv(name) == nullptr) {
      std::printf("no %s\n", name);
      return 2;
    }
  }
  MYSQL* handle = mysql_init(nullptr);
  const unsigned timeout = 5;
  mysql_options(handle, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  if (mysql_real_connect(handle, std::getenv("DB_HOST"), std::getenv("DB_USER"),
                         std::getenv("DB_PASSWORD"), std::getenv("DB_NAME"),
                         static_cast<unsigned>(std::atoi(std::getenv("DB_PORT"))), nullptr,
                         0) == nullptr) {
    std::printf("connect: %s\n", mysql_error(handle));
    return 1;
  }
  const std::string who = argc > 1 ? argv[1] : "copy";
  for (const std::string& sql :
       {std::string("CREATE TABLE IF NOT EXISTS visits (id INT AUTO_INCREMENT PRIMARY KEY, "
                    "who VARCHAR(64))"),
        "INSERT INTO visits (who) VALUES ('" + who + "')"}) {
    if (mysql_query(handle, sql.c_str()) != 0) {
      std::printf("query: %s\n", mysql_error(handle));
      return 1;
    }
  }
  mysql_close(handle);
  std::printf("ok\n");
  return 0;
}
