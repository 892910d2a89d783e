// Header exchange by point-to-point messages (see exchange.h). A nonblocking
// collective would say only that someone is late; one message per peer says
// who. The headers are a few doubles, so the all-to-all costs one latency.
#include "mpi/exchange.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>

#include "mpi/watchdog.h"

namespace cskd::mpi {
namespace {

constexpr int kHeaderTag = 4242;  // below MPI's guaranteed minimum tag bound (32767)

void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw std::runtime_error(std::string(call) + " failed: " + std::string(msg, len));
}

}  // namespace

std::vector<int> exchangeHeaders(MPI_Comm comm, const double* header, int n, double* table,
                                 double seconds) {
  int rank = 0, size = 1;
  check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  std::memcpy(table + static_cast<size_t>(rank) * n, header, sizeof(double) * n);
  if (size == 1) return {};
  // Heap buffers the pending requests can keep using if this gives up early
  // (the caller then aborts the job, so they are left, not freed under MPI).
  auto* sendBuf = new std::vector<double>(header, header + n);
  auto* recvBuf = new std::vector<double>(static_cast<size_t>(size) * n);
  std::vector<MPI_Request> recvs, sends;
  std::vector<int> peers;
  for (int r = 0; r < size; ++r) {
    if (r == rank) continue;
    peers.push_back(r);
    recvs.emplace_back();
    check(MPI_Irecv(recvBuf->data() + static_cast<size_t>(r) * n, n, MPI_DOUBLE, r, kHeaderTag,
                    comm, &recvs.back()),
          "MPI_Irecv");
    sends.emplace_back();
    check(MPI_Isend(sendBuf->data(), n, MPI_DOUBLE, r, kHeaderTag, comm, &sends.back()),
          "MPI_Isend");
  }
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<bool> arrived(recvs.size(), false);
  std::vector<int> indices(recvs.size());
  size_t remaining = recvs.size();
  // Spin while the peers are close behind (MPI progresses only inside its
  // calls), then sleep between polls so a rank waiting for a slower one leaves
  // the core to it.
  long sleepNs = 20'000;
  while (remaining > 0) {
    int count = 0;
    check(MPI_Testsome(static_cast<int>(recvs.size()), recvs.data(), &count, indices.data(),
                       MPI_STATUSES_IGNORE),
          "MPI_Testsome");
    for (int i = 0; i < count && indices[i] != MPI_UNDEFINED; ++i) {
      if (!arrived[indices[i]]) {
        arrived[indices[i]] = true;
        --remaining;
      }
    }
    if (remaining == 0) break;
    const auto now = Clock::now();
    if (now >= deadline) break;
    if (now - start > std::chrono::microseconds(200)) {
      timespec ts{0, sleepNs};
      nanosleep(&ts, nullptr);
      sleepNs = std::min(sleepNs * 2, 1'000'000L);
    }
  }
  std::vector<int> missing;
  for (size_t i = 0; i < recvs.size(); ++i)
    if (!arrived[i]) missing.push_back(peers[i]);
  if (!missing.empty()) return missing;
  {
    // Eager-sized sends complete locally; the deadline still guards them.
    WatchdogScope guard(seconds, "sending a collective header");
    check(MPI_Waitall(static_cast<int>(sends.size()), sends.data(), MPI_STATUSES_IGNORE),
          "MPI_Waitall");
  }
  for (int r = 0; r < size; ++r) {
    if (r == rank) continue;
    std::memcpy(table + static_cast<size_t>(r) * n, recvBuf->data() + static_cast<size_t>(r) * n,
                sizeof(double) * n);
  }
  delete sendBuf;
  delete recvBuf;
  return missing;
}

}  // namespace cskd::mpi
