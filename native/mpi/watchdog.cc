// The watchdog thread (see watchdog.h).
#include "mpi/watchdog.h"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

namespace cskd::mpi {
namespace {

using Clock = std::chrono::steady_clock;

struct State {
  std::mutex mu;
  std::condition_variable cv;
  bool armed = false;
  Clock::time_point deadline;
  double seconds = 0;
  std::string what;
  bool started = false;
};

State& state() {
  static State* s = new State();  // never destroyed: the thread outlives static teardown
  return *s;
}

[[noreturn]] void expire(const std::string& what, double seconds) {
  std::fprintf(stderr, "cskd: %s did not complete within %.0f s (CSKD_DIST_TIMEOUT_S); exiting\n",
               what.c_str(), seconds);
  std::fflush(stderr);
  _exit(3);
}

void run() {
  State& s = state();
  std::unique_lock<std::mutex> lock(s.mu);
  for (;;) {
    if (!s.armed) {
      s.cv.wait(lock);
      continue;
    }
    auto deadline = s.deadline;
    if (s.cv.wait_until(lock, deadline) == std::cv_status::timeout && s.armed &&
        s.deadline == deadline && Clock::now() >= deadline) {
      expire(s.what, s.seconds);
    }
  }
}

}  // namespace

void armWatchdog(double seconds, std::string what) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.started) {
    std::thread(run).detach();
    s.started = true;
  }
  s.armed = true;
  s.seconds = seconds;
  s.deadline = Clock::now() +
               std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  s.what = std::move(what);
  s.cv.notify_all();
}

void disarmWatchdog() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.armed = false;
  s.cv.notify_all();
}

}  // namespace cskd::mpi
