// src/agent/background.h — threads for CPU-heavy background work (hashing, compressing and
// verifying chunks, materializing images, sealing and opening bulk frames, imports). They run at
// a lower priority (nice 10), so that when the io thread or the state log's thread wakes — to
// answer a probe, to acknowledge a write — it gets a core at once instead of waiting its turn
// behind them. Children must never be started from these threads: they would inherit the nice
// value (copies are started from the copy service's own pool, at normal priority).
#pragma once

#include <asio.hpp>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

namespace starling::agent {

// The nice value of background threads.
inline constexpr int kBackgroundNice = 10;

// Lowers the calling thread's CPU priority to `nice` (Linux: a thread's own nice value).
void LowerThisThreadsPriority(int nice = kBackgroundNice);

// Runs `work` on a fresh background thread and waits for it (a long import on behalf of an API
// request: the request's own thread keeps its priority).
void RunInBackground(const std::function<void()>& work);

// A pool of background threads, an executor like asio::thread_pool's.
class BackgroundPool {
 public:
  explicit BackgroundPool(int threads);
  ~BackgroundPool() { join(); }
  BackgroundPool(const BackgroundPool&) = delete;
  BackgroundPool& operator=(const BackgroundPool&) = delete;

  asio::io_context::executor_type get_executor() { return io_.get_executor(); }
  // Finishes the work posted so far, then stops the threads. Idempotent.
  void join();

 private:
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

}  // namespace starling::agent
