// A deadline on the collective in progress. MPI calls block the JS thread, so
// no JS timer can fire while one hangs; this native thread can. It never calls
// MPI (the module keeps every MPI call on the thread that initialised it): on
// expiry it prints the collective's description and _exit()s, and the launcher
// (mpirun, srun --kill-on-bad-exit) takes the other ranks down.
#pragma once

#include <string>

namespace cskd::mpi {

// Starts the deadline: `what` is printed if it passes before disarm().
void armWatchdog(double seconds, std::string what);
void disarmWatchdog();

// Arms on construction, disarms on destruction (exceptions included).
class WatchdogScope {
 public:
  WatchdogScope(double seconds, std::string what) { armWatchdog(seconds, std::move(what)); }
  ~WatchdogScope() { disarmWatchdog(); }
  WatchdogScope(const WatchdogScope&) = delete;
  WatchdogScope& operator=(const WatchdogScope&) = delete;
};

}  // namespace cskd::mpi
