// The process's communicator: MPI when a launcher started several ranks (or
// CSKD_DIST=mpi), with NCCL for device tensors where every rank can use it;
// else the size-1 LocalCommunicator, with MPI never loaded.
import { loadMpiModule } from '../native.js';
import { type Communicator, LocalCommunicator } from './communicator.js';
import { DistError } from './errors.js';
import { collectiveTimeout, detectLauncher, distMode, type Launch } from './launcher.js';
import { MpiCommunicator } from './mpi.js';
import { NcclRoute } from './nccl.js';

let current: Communicator | undefined;

/** CSKD_DIST_BUCKET_MB: megabytes of float32 per MPI_Allreduce of a large buffer (default 16). */
function bucketElements(env: NodeJS.ProcessEnv): number {
  const raw = env['CSKD_DIST_BUCKET_MB'];
  const mb = raw === undefined || raw.trim() === '' ? 16 : Number(raw);
  if (!(Number.isFinite(mb) && mb > 0)) throw new Error(`CSKD_DIST_BUCKET_MB=${raw}: expected a positive number`);
  return Math.max(1, Math.floor((mb * 2 ** 20) / 4));
}

function startMpi(launch: Launch | null, env: NodeJS.ProcessEnv): MpiCommunicator {
  const where = launch ? `started by ${launch.kind} as rank ${launch.rank} of ${launch.size}` : 'CSKD_DIST=mpi';
  const loaded = loadMpiModule();
  if ('reason' in loaded) throw new Error(`cskd: ${where}, but ${loaded.reason}; or set CSKD_DIST=off to run this process alone`);
  const mpi = loaded.module;
  const w = mpi.init();
  if (launch && (w.size !== launch.size || w.rank !== launch.rank)) {
    throw new Error(
      `cskd: ${where}, but MPI sees rank ${w.rank} of ${w.size}: the MPI cskd_mpi.node links (${mpi.libraryVersion().split('\n')[0]}) is not the launcher's`,
    );
  }
  const timeoutS = collectiveTimeout(env);
  const nccl = NcclRoute.negotiate(mpi, w.rank, w.size, timeoutS);
  const comm = new MpiCommunicator(mpi, w, { timeoutS, bucketElements: bucketElements(env) }, nccl);
  // A clean exit finalises. Any other exit aborts the job, so no rank is left
  // waiting in a collective for this one; MPI_Abort makes the launcher name
  // this rank. A failure every rank saw alike (a mismatch) finalises in order.
  // Node runs 'exit' handlers before it prints an uncaught error, and
  // MPI_Abort does not return: the error is printed here, or never.
  let uncaught: Error | undefined;
  process.on('uncaughtExceptionMonitor', (e) => (uncaught = e instanceof Error ? e : new Error(String(e))));
  process.on('exit', (code) => {
    if (code === 0 || comm.failure?.everyRank) {
      try {
        comm.finalize();
      } catch {
        // exiting anyway
      }
    } else {
      const cause = uncaught?.stack ?? comm.failure?.message;
      process.stderr.write(`${cause ? `${cause}\n` : ''}cskd: rank ${comm.rank} exits with code ${code}; aborting the job\n`);
      comm.abort(code);
    }
  });
  // The launcher's SIGTERM means another rank failed (the launcher says which).
  process.on('SIGTERM', () => {
    process.stderr.write(`cskd: rank ${comm.rank} stopped by the launcher (SIGTERM): another rank failed; the launcher's message names it\n`);
    process.exit(143);
  });
  return comm;
}

/** The communicator of this process (created on first use). */
export function world(env: NodeJS.ProcessEnv = process.env): Communicator {
  if (current) return current;
  const mode = distMode(env);
  const launch = mode === 'off' ? null : detectLauncher(env);
  current = mode === 'mpi' || (mode === 'auto' && launch !== null && launch.size > 1) ? startMpi(launch, env) : new LocalCommunicator();
  return current;
}

export { DistError };
