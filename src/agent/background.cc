#include "src/agent/background.h"

#include <sys/resource.h>
#include <unistd.h>

namespace starling::agent {

void LowerThisThreadsPriority(int nice) {
  // On Linux, PRIO_PROCESS with a thread id sets that one thread's nice value. A failure leaves
  // it at its priority: slower probes under load, never a wrong answer.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice);
}

void RunInBackground(const std::function<void()>& work) {
  std::thread thread([&work] {
    LowerThisThreadsPriority();
    work();
  });
  thread.join();
}

BackgroundPool::BackgroundPool(int threads) : io_(threads) {
  work_.emplace(asio::make_work_guard(io_));
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      LowerThisThreadsPriority();
      io_.run();
    });
  }
}

void BackgroundPool::join() {
  work_.reset();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

}  // namespace starling::agent
