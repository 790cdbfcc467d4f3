// starling-bench-smallfiles DIR N [BYTES [keep]] — the small-file workload of
// scripts/bench/files: N files of BYTES (default 4096) written (open, write, close), their
// metadata read (stat), read back, and removed (unless "keep"), in DIR; one JSON line with each
// phase's seconds. Linked statically, so the
// same program runs on the host and inside a busybox copy (the figures compare file systems, not
// programs).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int Fail(const char* what, const std::string& path) {
  std::perror((std::string(what) + " " + path).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s DIR N [BYTES]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const long count = std::atol(argv[2]);
  const long bytes = argc > 3 ? std::atol(argv[3]) : 4096;
  if (count <= 0 || count > 1000000 || bytes < 0 || bytes > (1 << 24)) return 2;
  std::vector<char> data(static_cast<size_t>(bytes), 'x'), back(static_cast<size_t>(bytes) + 1);
  std::vector<std::string> paths;
  for (long i = 0; i < count; ++i) paths.push_back(dir + "/f" + std::to_string(i));

  auto start = std::chrono::steady_clock::now();
  for (const auto& path : paths) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return Fail("open", path);
    if (::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
      return Fail("write", path);
    }
    if (::close(fd) != 0) return Fail("close", path);
  }
  const double write_s = Since(start);

  start = std::chrono::steady_clock::now();
  for (const auto& path : paths) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || st.st_size != bytes) return Fail("stat", path);
  }
  const double stat_s = Since(start);

  start = std::chrono::steady_clock::now();
  for (const auto& path : paths) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Fail("open", path);
    if (::read(fd, back.data(), back.size()) != bytes) return Fail("read", path);
    ::close(fd);
  }
  const double read_s = Since(start);

  const bool keep = argc > 4 && std::string(argv[4]) == "keep";
  start = std::chrono::steady_clock::now();
  for (const auto& path : keep ? std::vector<std::string>{} : paths) {
    if (::unlink(path.c_str()) != 0) return Fail("unlink", path);
  }
  const double remove_s = Since(start);
  std::printf(
      "{\"files\": %ld, \"bytes\": %ld, \"write_s\": %.6f, \"stat_s\": %.6f, "
      "\"read_s\": %.6f, \"remove_s\": %.6f}\n",
      count, bytes, write_s, stat_s, read_s, remove_s);
  return 0;
}
