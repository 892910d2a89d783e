// Which launcher started this process, and this process's place in the job,
// read from the variables the launchers set. Nothing here loads MPI: a process
// no launcher started never touches it.

export type LauncherKind = 'openmpi' | 'pmi' | 'slurm';

export interface Launch {
  kind: LauncherKind;
  rank: number;
  size: number;
}

type Env = Readonly<Record<string, string | undefined>>;

function int(env: Env, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v);
}

/**
 * Open MPI's mpirun (OMPI_COMM_WORLD_*), MPICH/Hydra and Intel MPI (PMI_*),
 * Slurm's srun (SLURM_PROCID with the step's task count; an sbatch script's
 * own shell has SLURM_* too, but no step, so it does not count). Null when
 * none started this process.
 */
export function detectLauncher(env: Env = process.env): Launch | null {
  const candidates: [LauncherKind, string, string][] = [
    ['openmpi', 'OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE'],
    ['pmi', 'PMI_RANK', 'PMI_SIZE'],
    ['slurm', 'SLURM_PROCID', 'SLURM_STEP_NUM_TASKS'],
  ];
  for (const [kind, rankVar, sizeVar] of candidates) {
    const rank = int(env, rankVar);
    const size = int(env, sizeVar);
    if (rank === undefined || size === undefined) continue;
    if (size < 1 || rank >= size) throw new Error(`launcher environment: ${rankVar}=${rank} is not a rank of ${sizeVar}=${size}`);
    return { kind, rank, size };
  }
  return null;
}

export type DistMode = 'auto' | 'off' | 'mpi';

/** CSKD_DIST: auto (MPI when a launcher started more than one rank), off, or mpi (always, even for one rank). */
export function distMode(env: Env = process.env): DistMode {
  const v = (env['CSKD_DIST'] ?? 'auto').trim().toLowerCase();
  if (v === 'auto' || v === 'off' || v === 'mpi') return v;
  throw new Error(`CSKD_DIST=${env['CSKD_DIST']}: expected auto, off or mpi`);
}

/** CSKD_DIST_TIMEOUT_S: how long a collective may wait for the other ranks (default 120 s). */
export function collectiveTimeout(env: Env = process.env): number {
  const raw = env['CSKD_DIST_TIMEOUT_S'];
  if (raw === undefined || raw.trim() === '') return 120;
  const v = Number(raw);
  if (!(Number.isFinite(v) && v > 0)) throw new Error(`CSKD_DIST_TIMEOUT_S=${raw}: expected a positive number of seconds`);
  return v;
}
