// The per-collective header exchange that makes a mismatch an error rather
// than a deadlock, and a missing rank a named one.
//
// Before each collective every rank sends a small header (its collective
// number, step, kind, element count, ...) to every other rank and waits, with a
// deadline, for theirs. All ranks then hold the same table and reach the same
// verdict (src/dist/header.ts): they agree and run the collective, or they all
// throw. A rank whose header does not arrive in time is named.
#pragma once

#include <mpi.h>

#include <vector>

namespace cskd::mpi {

// Fills `table` (size * n doubles, rank-major) with every rank's header, this
// rank's included; returns the ranks whose header did not arrive within
// `seconds` (empty when all did).
std::vector<int> exchangeHeaders(MPI_Comm comm, const double* header, int n, double* table,
                                 double seconds);

}  // namespace cskd::mpi
