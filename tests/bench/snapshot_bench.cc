// starling-bench-snapshot — how long a copy's root takes to appear: overlay mount(2) over a
// materialized image (with the copy's fresh directories) and the first read of a file through
// it. Prints median, p99 and max over N starts; unmount time is shown apart. Needs root.
//   starling-bench-snapshot DIR [starts]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "src/images/overlay.h"

int main(int argc, char** argv) {
  using Clock = std::chrono::steady_clock;
  namespace fs = std::filesystem;
  if (argc < 2) {
    std::fprintf(stderr, "usage: starling-bench-snapshot DIR [starts]\n");
    return 2;
  }
  const fs::path base = argv[1];
  const int starts = argc > 2 ? std::atoi(argv[2]) : 500;
  fs::remove_all(base);
  fs::create_directories(base / "image/var/www");
  std::ofstream(base / "image/var/www/index.php") << std::string(4096, 'x');
  std::vector<double> start_ms, unmount_ms;
  for (int i = 0; i < starts; ++i) {
    const std::string copy = (base / ("copy-" + std::to_string(i))).string();
    const auto t0 = Clock::now();
    auto mount = starling::images::MountOverlay((base / "image").string(), copy);
    if (!mount.ok()) {
      std::fprintf(stderr, "%s\n", mount.status().ToString().c_str());
      return 1;
    }
    char buffer[4096];
    const int fd = ::open((mount->root + "/var/www/index.php").c_str(), O_RDONLY);
    const bool read_ok = fd >= 0 && ::read(fd, buffer, sizeof(buffer)) == sizeof(buffer);
    if (fd >= 0) ::close(fd);
    const auto t1 = Clock::now();
    if (!read_ok || !starling::images::UnmountOverlay(*mount).ok()) return 1;
    const auto t2 = Clock::now();
    start_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    unmount_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    fs::remove_all(copy);
  }
  auto pct = [](std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
  };
  std::printf("| what | starts | median | p99 | max |\n|---|---|---|---|---|\n");
  std::printf("| overlay mount(2) + first read | %d | %.3f ms | %.3f ms | %.3f ms |\n", starts,
              pct(start_ms, 0.5), pct(start_ms, 0.99), pct(start_ms, 1.0));
  std::printf("| unmount | %d | %.3f ms | %.3f ms | %.3f ms |\n", starts, pct(unmount_ms, 0.5),
              pct(unmount_ms, 0.99), pct(unmount_ms, 1.0));
  fs::remove_all(base);
  return 0;
}
